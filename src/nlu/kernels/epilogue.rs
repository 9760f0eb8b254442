//! What the kernels share at the end of a tile: the [`Epilogue`] applied to each output (bias,
//! GELU with a vectorisable erf) and the raw output pointer the panel tasks write through.
/// What happens to `x Wᵀ + b` before it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    Bias,
    /// GELU (erf form) after the bias: the feed-forward block's first layer.
    BiasGelu,
}

impl Epilogue {
    #[inline(always)]
    pub fn apply(self, y: f32) -> f32 {
        match self {
            Self::Bias => y,
            Self::BiasGelu => 0.5 * y * (1.0 + erf(y * std::f32::consts::FRAC_1_SQRT_2)),
        }
    }
}

/// A raw output pointer shared by the tasks of one call (the matmul panels' f32 outputs; the
/// quantised rows' bytes, scales and zero points).
pub(crate) struct OutPtr<T = f32>(pub *mut T);
// Not derived: a derive would require `T: Copy`, which a pointer does not need.
impl<T> Clone for OutPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for OutPtr<T> {}
// SAFETY: each task writes a disjoint set of elements of the output of one call, which outlives
// the call.
unsafe impl<T> Send for OutPtr<T> {}
unsafe impl<T> Sync for OutPtr<T> {}

impl<T> OutPtr<T> {
    /// The element `i` places past the base (a method, so that closures capture the `Sync`
    /// wrapper rather than its raw pointer).
    ///
    /// # Safety
    /// `i` must lie within the output.
    pub(crate) unsafe fn at(self, i: usize) -> *mut T {
        self.0.add(i)
    }

    /// The elements `range` of the output as a slice.
    ///
    /// # Safety
    /// The range must lie within the output, and no one else may access it meanwhile.
    pub(crate) unsafe fn slice<'a>(self, range: std::ops::Range<usize>) -> &'a mut [T] {
        std::slice::from_raw_parts_mut(self.at(range.start), range.len())
    }
}

/// erf(x) as a ratio of odd and even polynomials on [-4, 4] (Eigen's `generic_fast_erf_float`).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024_1e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906_3e-4;
    p = x2 * p + -2.954_6e-3;
    p = x2 * p + -1.609_603_3e-2;
    p *= x;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329_4e-3;
    q = x2 * q + -1.426_474e-2;
    p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_erf_matches_libm() {
        let mut worst = 0f32;
        for i in -6000..=6000 {
            let x = i as f32 / 1000.0;
            worst = worst.max((erf(x) - libm_erf(x)).abs());
        }
        assert!(worst < 2e-6, "max error {worst}");
    }

    fn libm_erf(x: f32) -> f32 {
        // Numerical Recipes' erfc approximation (fractional error < 1.2e-7), in f64. The
        // polynomial is evaluated by Horner's rule over its coefficients (c1 … c9), written as a
        // loop rather than nine nested parentheses, which rustfmt takes tens of seconds to lay out.
        const C: [f64; 9] = [
            1.000_023_68,
            0.374_091_96,
            0.096_784_18,
            -0.186_288_06,
            0.278_868_07,
            -1.135_203_98,
            1.488_515_87,
            -0.822_152_23,
            0.170_872_77,
        ];
        let x = x as f64;
        let t = 1.0 / (1.0 + 0.5 * x.abs());
        let tail = C.iter().rev().fold(0.0, |acc, c| c + t * acc);
        let y = 1.0 - t * (-x * x - 1.265_512_23 + t * tail).exp();
        (if x >= 0.0 { y } else { -y }) as f32
    }
}
