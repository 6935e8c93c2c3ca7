from components.registry.promote import decide


def test_first_model_becomes_champion():
    assert decide(0.1, None, 0.01) == (True, "no champion yet")


def test_better_challenger_is_promoted_only_beyond_the_margin():
    assert decide(0.30, 0.20, 0.05)[0] is True
    assert decide(0.24, 0.20, 0.05)[0] is False  # within the margin
    assert decide(0.10, 0.20, 0.0)[0] is False  # worse


def test_a_failed_check_is_never_promoted():
    promote, reason = decide(0.9, 0.1, 0.0, checks_passed=False)
    assert promote is False and "check" in reason


def _hits(n: int, ones: set[int]):
    import numpy as np

    return np.array([1.0 if i in ones else 0.0 for i in range(n)])


def test_the_paired_interval_holds_zero_for_a_reshuffle_of_the_same_skill():
    """Two models right on 12 of 200 images each, but on different images (what another seed
    gives): the means tie, the interval straddles 0, and margin 0 does not promote it."""
    from components.registry.paired_bootstrap import paired_difference
    from components.registry.promote import decide_paired

    champion = _hits(200, set(range(0, 12)))
    challenger = _hits(200, set(range(6, 18)))
    paired = paired_difference(challenger, champion)
    assert paired.difference == 0.0 and paired.low < 0.0 < paired.high
    assert paired.n_images == 200 and paired == paired_difference(challenger, champion)
    promote, reason = decide_paired(paired, 0.0)
    assert not promote and "interval" in reason and "margin 0.0" in reason
    # the rule on means alone promotes a hair's breadth of luck
    assert decide(paired.challenger + 1e-9, paired.champion, 0.0)[0] is True


def test_a_clearly_better_challenger_clears_the_interval_and_the_margin():
    from components.registry.paired_bootstrap import paired_difference
    from components.registry.promote import decide_paired

    champion = _hits(200, set(range(0, 12)))
    challenger = _hits(200, set(range(0, 60)))  # every champion hit, and 48 more
    paired = paired_difference(challenger, champion)
    assert paired.low > 0.15 and paired.high <= 0.3
    assert decide_paired(paired, 0.05)[0] is True
    assert decide_paired(paired, 0.5)[0] is False  # the margin still applies to the low end
    assert decide_paired(paired, 0.0, checks_passed=False)[0] is False


def test_paired_scores_must_cover_the_same_images():
    import pytest

    from components.registry.paired_bootstrap import paired_difference

    with pytest.raises(ValueError, match="one value per image"):
        paired_difference(_hits(10, {1}), _hits(9, {1}))
