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
