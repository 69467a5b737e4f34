from __future__ import annotations

import pytest

from gdr_toolkit.dataset.agents import CONTRAST_AGENTS, find_agent, known_agent_names


@pytest.mark.parametrize(
    ("name", "generic"),
    [
        ("Gadovist", "gadobutrol"),
        ("GADAVIST", "gadobutrol"),
        ("dotarem", "gadoterate"),
        ("Clariscan", "gadoterate"),
        ("ProHance", "gadoteridol"),
        ("MultiHance", "gadobenate"),
        ("Elucirem", "gadopiclenol"),
        ("vueway", "gadopiclenol"),
        ("  Gadobutrol ", "gadobutrol"),
    ],
)
def test_lookup_by_generic_or_brand_name(name, generic):
    assert find_agent(name).generic_name == generic


@pytest.mark.parametrize(
    ("name", "field", "r1"),
    [
        ("gadobutrol", 1.5, 4.6),
        ("gadobutrol", 3.0, 4.5),
        ("gadoterate", 1.5, 3.9),
        ("gadoterate", 3.0, 3.4),
        ("gadoteridol", 3.0, 3.5),
        ("gadobenate", 1.5, 6.2),
        ("gadopiclenol", 3.0, 11.6),
    ],
)
def test_tabulated_relaxivities(name, field, r1):
    assert find_agent(name).relaxivity_l_per_mmol_s(field) == pytest.approx(r1)


def test_relaxivity_interpolates_linearly_and_holds_beyond_table():
    agent = find_agent("gadoterate")
    assert agent.relaxivity_l_per_mmol_s(2.25) == pytest.approx((3.9 + 3.4) / 2)
    assert agent.relaxivity_l_per_mmol_s(1.0) == pytest.approx(3.9)
    assert find_agent("gadopiclenol").relaxivity_l_per_mmol_s(7.0) == pytest.approx(11.6)


def test_unknown_agent_error_lists_known_names():
    with pytest.raises(ValueError, match="gadobutrol.*") as info:
        find_agent("gadolinium-x")
    assert "gadolinium-x" in str(info.value)
    assert "prohance" in str(info.value)


def test_standard_doses():
    doses = {agent.generic_name: agent.standard_dose_mmol_per_kg for agent in CONTRAST_AGENTS}
    assert doses == {
        "gadobutrol": 0.1,
        "gadoterate": 0.1,
        "gadoteridol": 0.1,
        "gadobenate": 0.1,
        "gadopiclenol": 0.05,
    }


def test_invalid_field_strength_is_rejected():
    with pytest.raises(ValueError, match="tesla"):
        find_agent("gadobutrol").relaxivity_l_per_mmol_s(0.0)
    assert "gadovist" in known_agent_names()


@pytest.mark.parametrize(
    ("name", "millilitres_per_kg"),
    [
        ("gadobutrol", 0.1),
        ("gadoterate", 0.2),
        ("gadoteridol", 0.2),
        ("gadobenate", 0.2),
        ("gadopiclenol", 0.1),
    ],
)
def test_standard_dose_in_millilitres_per_kg_follows_the_label_concentration(name, millilitres_per_kg):
    assert find_agent(name).standard_dose_ml_per_kg == pytest.approx(millilitres_per_kg)
