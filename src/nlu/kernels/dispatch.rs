//! Kernel selection: the precision and instruction set every linear layer of one encoder uses,
//! decided once when the encoder loads.
//!
//! `--precision` picks f32 or int8 (default: the fastest that keeps accuracy parity on this CPU:
//! int8 where the CPU has AVX2 + FMA or AVX-512 VNNI, f32 on the scalar fallback); `--cpu avx2`
//! (or `scalar`) caps the instruction set so an AVX-512 machine can run, and test, the fallback
//! kernels.
use std::fmt;
use std::str::FromStr;

/// Number format of the linear layers' weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Precision {
    /// f32 weights and activations (the reference).
    F32,
    /// int8 weights (per-output-channel scales) × int8 activations (per-row dynamic scales).
    Int8,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Int8 => "int8",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `--precision`: a fixed precision, or `auto` for the default of this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrecisionChoice {
    #[default]
    Auto,
    Fixed(Precision),
}

impl FromStr for PrecisionChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "f32" => Ok(Self::Fixed(Precision::F32)),
            "int8" | "i8" => Ok(Self::Fixed(Precision::Int8)),
            "bf16" => Err("bf16 kernels are not built yet: use f32 or int8".into()),
            other => Err(format!(
                "unknown precision {other:?}: use auto, f32 or int8"
            )),
        }
    }
}

impl fmt::Display for PrecisionChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Fixed(p) => p.fmt(f),
        }
    }
}

/// Instruction set a kernel is written for, best first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// Plain Rust loops: any CPU.
    Scalar,
    /// AVX2 + FMA (f32 FMA; int8 via `vpmaddubsw`).
    Avx2,
    /// AVX-512 F/BW/VL + VNNI (int8 via `vpdpbusd`), plus AVX2 + FMA.
    Avx512Vnni,
}

impl Isa {
    /// The best instruction set this CPU has.
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            let avx2 = has!("avx2") && has!("fma");
            if avx2 && has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512vnni")
            {
                return Self::Avx512Vnni;
            }
            if avx2 {
                return Self::Avx2;
            }
        }
        Self::Scalar
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scalar => "scalar",
            Self::Avx2 => "avx2",
            Self::Avx512Vnni => "avx512-vnni",
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `--cpu`: use what the CPU has (`auto`) or at most a given instruction set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuLimit {
    #[default]
    Auto,
    AtMost(Isa),
}

impl FromStr for CpuLimit {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" | "native" => Ok(Self::Auto),
            "avx512" | "avx512-vnni" => Ok(Self::AtMost(Isa::Avx512Vnni)),
            "avx2" => Ok(Self::AtMost(Isa::Avx2)),
            "scalar" | "generic" => Ok(Self::AtMost(Isa::Scalar)),
            other => Err(format!(
                "unknown CPU level {other:?}: use auto, avx512, avx2 or scalar"
            )),
        }
    }
}

impl fmt::Display for CpuLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auto => f.write_str("auto"),
            Self::AtMost(isa) => isa.fmt(f),
        }
    }
}

/// The kernels one encoder runs: fixed at load, shared by every layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernels {
    pub precision: Precision,
    pub isa: Isa,
}

impl Kernels {
    /// Resolves the options against this CPU. A limit above what the CPU has is lowered to it.
    pub fn select(precision: PrecisionChoice, cpu: CpuLimit) -> Self {
        let detected = Isa::detect();
        let isa = match cpu {
            CpuLimit::Auto => detected,
            CpuLimit::AtMost(limit) => limit.min(detected),
        };
        let precision = match precision {
            PrecisionChoice::Fixed(p) => p,
            // int8 keeps parity (see README; every int8 path gives the same bits) and is faster
            // wherever its SIMD kernels run: ~3× f32 with VNNI, and with AVX2 alone (`vpmaddwd`)
            // 1.3× f32's batch throughput and 1.7× its single-message speed (2026-12-05, once
            // attention and the work around the matmuls stopped dominating; before, it was not
            // faster). The scalar fallback stays f32, the reference.
            PrecisionChoice::Auto if isa >= Isa::Avx2 => Precision::Int8,
            PrecisionChoice::Auto => Precision::F32,
        };
        Self { precision, isa }
    }

    /// The reference kernels: f32, and the best f32 instruction set this CPU has.
    pub fn f32() -> Self {
        Self::select(PrecisionChoice::Fixed(Precision::F32), CpuLimit::Auto)
    }

    /// e.g. `int8/avx512-vnni`: the precision and the instruction set its kernels really use
    /// (the f32 kernels stop at AVX2 + FMA, whatever else the CPU has).
    pub fn describe(&self) -> String {
        let isa = match self.precision {
            Precision::F32 => self.isa.min(Isa::Avx2),
            Precision::Int8 => self.isa,
        };
        format!("{}/{isa}", self.precision)
    }
}

/// The x86 features the kernels care about that this CPU reports, e.g. `avx2 fma avx512f …`.
pub fn cpu_flags() -> String {
    let mut flags = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let known = [
            ("avx2", has!("avx2")),
            ("fma", has!("fma")),
            ("avx512f", has!("avx512f")),
            ("avx512bw", has!("avx512bw")),
            ("avx512vl", has!("avx512vl")),
            ("avx512vnni", has!("avx512vnni")),
            ("avx512bf16", has!("avx512bf16")),
            ("avxvnni", has!("avxvnni")),
        ];
        flags.extend(known.iter().filter(|(_, on)| *on).map(|(name, _)| *name));
    }
    if flags.is_empty() {
        "none".into()
    } else {
        flags.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_parse_and_limits_lower_the_isa() {
        assert_eq!("INT8".parse(), Ok(PrecisionChoice::Fixed(Precision::Int8)));
        assert_eq!("auto".parse(), Ok(PrecisionChoice::Auto));
        assert!("fp64".parse::<PrecisionChoice>().is_err());
        assert_eq!("avx2".parse(), Ok(CpuLimit::AtMost(Isa::Avx2)));
        let k = Kernels::select(PrecisionChoice::Auto, CpuLimit::AtMost(Isa::Scalar));
        assert_eq!(
            k,
            Kernels {
                precision: Precision::F32,
                isa: Isa::Scalar
            }
        );
        let k = Kernels::select(
            PrecisionChoice::Fixed(Precision::Int8),
            CpuLimit::AtMost(Isa::Avx2),
        );
        assert!(k.isa <= Isa::Avx2 && k.isa <= Isa::detect());
        assert_eq!(k.precision, Precision::Int8);
        // `auto` is int8 wherever the SIMD int8 kernels run, the reference f32 otherwise.
        let k = Kernels::select(PrecisionChoice::Auto, CpuLimit::AtMost(Isa::Avx2));
        let simd = k.isa >= Isa::Avx2;
        assert_eq!(k.precision == Precision::Int8, simd, "{k:?}");
    }
}
