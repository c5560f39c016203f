"""The FD curve's stopping rule (scripts/fd_curve.py `convergence`): python3 only."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import fd_curve  # noqa: E402


def rows(*fds):
    return [{"fd": x} for x in fds]


class ConvergenceTests(unittest.TestCase):
    def test_falling_curve_is_still_improving(self):
        self.assertIn("still improving", fd_curve.convergence(rows(116, 96, 69.5, 50.7), 3, 0.03))

    def test_plateau_has_stopped(self):
        self.assertIn("stopped improving", fd_curve.convergence(rows(50, 30, 29.5, 29.8, 29.4), 3, 0.03))

    def test_one_noisy_worse_point_is_not_a_plateau(self):
        # The last point is worse, but the window still beats the best before it by 10%.
        self.assertIn("still improving", fd_curve.convergence(rows(60, 50, 45, 44, 48), 3, 0.03))

    def test_too_few_snapshots_says_so(self):
        self.assertIn("need more than 3", fd_curve.convergence(rows(60, 50, 45), 3, 0.03))


if __name__ == "__main__":
    unittest.main()


class RepairElapsedTests(unittest.TestCase):
    def test_a_restarted_clock_is_added_to_the_time_before(self):
        import stitch_fd_curve
        rows = [{"step": s, "elapsed_s": e} for s, e in [(25, "10"), (50, "20"), (75, "5"), (100, "15"), (125, "3")]]
        got = [float(r["elapsed_s"]) for r in stitch_fd_curve.repair_elapsed(rows)]
        self.assertEqual(got, [10, 20, 25, 35, 38])

    def test_a_cumulative_log_is_left_as_it_is(self):
        import stitch_fd_curve
        rows = [{"step": s, "elapsed_s": e} for s, e in [(25, "10"), (50, "20"), (75, "30")]]
        self.assertEqual([float(r["elapsed_s"]) for r in stitch_fd_curve.repair_elapsed(rows)], [10, 20, 30])
