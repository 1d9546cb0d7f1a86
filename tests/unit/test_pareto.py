import itertools
import random

import pytest

from hwfit.analysis.pareto import dominates, pareto_front


def brute_force(points, senses):
    return {
        i
        for i, p in enumerate(points)
        if not any(dominates(q, p, senses) for q in points)
        and not any(points[j] == p for j in range(i))  # first of duplicates only
    }


def test_dominates_respects_senses():
    assert dominates((1.0, 80.0), (2.0, 70.0), ("min", "max"))
    assert not dominates((2.0, 70.0), (1.0, 80.0), ("min", "max"))
    assert dominates((2.0, 80.0), (1.0, 80.0), ("max", "max"))
    assert not dominates((1.0, 80.0), (1.0, 80.0), ("min", "max"))  # equal: no
    assert dominates((1.0, 80.0), (1.0, 79.0), ("min", "max"))  # tie on one, better on other


def test_front_of_measured_frontier_example():
    # (latency ms, top-1): the frontier of a real-looking zoo run.
    points = [
        (4.1, 72.9),  # mobilenetv2_100: on the front
        (9.8, 77.7),  # efficientnet_b0: on the front
        (12.0, 76.1),  # slower and worse than efficientnet_b0
        (25.0, 80.4),  # resnet50 a1: on the front
        (25.0, 76.1),  # resnet50 tv: same latency, worse accuracy
        (2.0, 65.3),  # mobilenetv3_small: fastest
    ]
    assert pareto_front(points, ("min", "max")) == [5, 0, 1, 3]


def test_duplicates_and_ties_are_deterministic():
    points = [(1.0, 5.0), (1.0, 5.0), (1.0, 4.0), (0.5, 5.0), (0.5, 5.0)]
    assert pareto_front(points, ("min", "max")) == [3]
    assert pareto_front([(1.0, 1.0)] * 3, ("min", "min")) == [0]
    assert pareto_front([], ("min", "max")) == []


def test_front_matches_brute_force_on_random_points():
    rng = random.Random(0)
    for n, senses in itertools.product((1, 5, 40), (("min", "max"), ("min", "min", "max"))):
        points = [tuple(float(rng.randint(0, 6)) for _ in senses) for _ in range(n)]
        front = pareto_front(points, senses)
        assert set(front) == brute_force(points, senses)
        assert len(front) == len(set(front))


def test_bad_input_raises():
    with pytest.raises(ValueError, match="objectives"):
        pareto_front([(1.0,)], ("min", "max"))
    with pytest.raises(ValueError, match="sense"):
        pareto_front([(1.0,)], ("lowest",))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN"):
        pareto_front([(float("nan"), 1.0)], ("min", "max"))
