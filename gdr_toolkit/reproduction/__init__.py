"""The reproduction study (issue 7): our method vs direct-regression baselines and ablations on simulated
multi-scanner, multi-agent, multi-dose data, written up as documentation/results.md."""
