//! Easing curves: CSS cubic-bezier timing functions.

use crate::project::Easing;

impl Easing {
    /// Control points (x1, y1, x2, y2) of the curve; `Linear` is (0,0,1,1).
    pub fn control_points(self) -> [f64; 4] {
        match self {
            Easing::Linear => [0.0, 0.0, 1.0, 1.0],
            Easing::EaseIn => [0.42, 0.0, 1.0, 1.0],
            Easing::EaseOut => [0.0, 0.0, 0.58, 1.0],
            Easing::EaseInOut => [0.42, 0.0, 0.58, 1.0],
            Easing::CubicBezier(p) => p,
        }
    }

    /// Eased progress for linear progress `t` in 0..=1.
    pub fn apply(self, t: f64) -> f64 {
        let t = t.clamp(0.0, 1.0);
        if self == Easing::Linear {
            return t;
        }
        let [x1, y1, x2, y2] = self.control_points();
        // Solve x(s) = t for the curve parameter s (x is monotonic since x1, x2 ∈ [0, 1]):
        // Newton steps from s = t, then bisection if Newton stalls.
        let bez = |a: f64, b: f64, s: f64| {
            let u = 1.0 - s;
            3.0 * u * u * s * a + 3.0 * u * s * s * b + s * s * s
        };
        let dbez = |a: f64, b: f64, s: f64| {
            let u = 1.0 - s;
            3.0 * u * u * a + 6.0 * u * s * (b - a) + 3.0 * s * s * (1.0 - b)
        };
        let mut s = t;
        for _ in 0..8 {
            let err = bez(x1, x2, s) - t;
            if err.abs() < 1e-9 {
                return bez(y1, y2, s);
            }
            let d = dbez(x1, x2, s);
            if d.abs() < 1e-9 {
                break;
            }
            s = (s - err / d).clamp(0.0, 1.0);
        }
        let (mut lo, mut hi) = (0.0, 1.0);
        s = t;
        for _ in 0..60 {
            let x = bez(x1, x2, s);
            if (x - t).abs() < 1e-9 {
                break;
            }
            if x < t {
                lo = s;
            } else {
                hi = s;
            }
            s = 0.5 * (lo + hi);
        }
        bez(y1, y2, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_and_symmetry() {
        for e in [
            Easing::Linear,
            Easing::EaseIn,
            Easing::EaseOut,
            Easing::EaseInOut,
            Easing::CubicBezier([0.1, 0.7, 0.9, 0.2]),
        ] {
            assert!(e.apply(0.0).abs() < 1e-6);
            assert!((e.apply(1.0) - 1.0).abs() < 1e-6);
        }
        // ease-in-out is symmetric about the midpoint.
        assert!((Easing::EaseInOut.apply(0.5) - 0.5).abs() < 1e-6);
        assert!((Easing::EaseInOut.apply(0.2) + Easing::EaseInOut.apply(0.8) - 1.0).abs() < 1e-6);
        // ease-in starts slow, ease-out starts fast.
        assert!(Easing::EaseIn.apply(0.25) < 0.25);
        assert!(Easing::EaseOut.apply(0.25) > 0.25);
        // CSS reference: cubic-bezier(0.42,0,1,1) at x=0.5 → y ≈ 0.3153.
        assert!((Easing::EaseIn.apply(0.5) - 0.3153).abs() < 1e-3);
    }
}
