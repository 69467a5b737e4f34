"""``-num_parts N -part_id K``: the flags of every command that loops over cases (``dataset.sharding``)."""

from __future__ import annotations

import argparse

from gdr_toolkit.dataset.sharding import Shard


def add_sharding_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-num_parts", type=int, default=1, help="split the cases into N parts (default 1)")
    parser.add_argument("-part_id", type=int, default=0, help="which part this run does, 0..N-1 (default 0)")


def shard_from_arguments(args: argparse.Namespace) -> Shard:
    """The Shard the flags ask for (ValueError names a bad flag)."""
    return Shard(args.num_parts, args.part_id)
