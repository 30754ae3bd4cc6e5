"""What showing costs in the policy replay: choice overload and irrelevance, as the guide claims.

Shops and the guide say that too many or poorly matched suggestions cost orders ("no suggestion beats a bad one").
In `policy_sim.replay`, each suggestion at a placement beyond `free_slots` multiplies the chance that the session's
order still goes through by 1 - `per_extra`, and each poorly matched one (the ground truth calls it neither an
upsell nor a cross-sell of the visit, or it is out of stock or already in the order) by 1 - `per_irrelevant`. The
size of the effect is an assumption, labelled as one: the evidence on choice overload says it exists under some
conditions and averages near zero over studies (`COSTS`).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChoiceCost:
    """What each suggestion costs in conversion (module docstring). The default costs nothing."""

    name: str = "none"
    free_slots: int = 4  # suggestions per placement that cost nothing for their number
    per_extra: float = 0.0  # share of the order lost per suggestion beyond free_slots at a placement
    per_irrelevant: float = 0.0  # share of the order lost per poorly matched suggestion

    def keep(self, shown: int, irrelevant: int) -> float:
        """The factor on the chance that the order goes through, for one placement."""
        return (1.0 - self.per_extra) ** max(0, shown - self.free_slots) * (1.0 - self.per_irrelevant) ** irrelevant


# Assumptions, not measurements. Published evidence gives the direction and says the size varies: Iyengar & Lepper
# (2000, JPSP 79(6)) saw 30 % of tasters buy from 6 jams against 3 % from 24; the meta-analysis of Scheibehenne,
# Greifeneder & Todd (2010, J. Consumer Research 37(3)) finds a mean effect near zero over 50 experiments; Chernev,
# Böckenholt & Goodman (2015, J. Consumer Psychology 25(2)) find it where choices are hard and preferences unclear.
# "mild": two suggestions per placement are free, each further one costs 0.5 % of the order, an unrelated one 1 %;
# "strong": one is free, each further one costs 2 %, an unrelated one 4 %.
COSTS = {"none": ChoiceCost(), "mild": ChoiceCost("mild", 2, 0.005, 0.01), "strong": ChoiceCost("strong", 1, 0.02, 0.04)}
