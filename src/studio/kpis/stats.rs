//! Mean, median and 90th percentile of durations. SQLite has no percentile function, so the SQL
//! counts the durations per second (a histogram) and the order statistics are taken here, the
//! same for both dialects. Percentiles interpolate linearly between the closest ranks (as
//! PostgreSQL's `percentile_cont`): with n sorted values, the p-th is at position p·(n−1).

/// `(value, how many)` pairs.
pub type Histogram = [(f64, u64)];

/// The value at 0-based `rank` of the sorted values `histogram` (ascending) stands for.
fn at_rank(histogram: &Histogram, rank: u64) -> Option<f64> {
    let mut seen = 0;
    for &(value, count) in histogram {
        seen += count;
        if rank < seen {
            return Some(value);
        }
    }
    None
}

/// `p` in [0, 1] of the values of `histogram` (ascending by value); None when empty.
pub fn percentile(histogram: &Histogram, p: f64) -> Option<f64> {
    let n: u64 = histogram.iter().map(|(_, c)| c).sum();
    let last = n.checked_sub(1)?;
    let position = p.clamp(0.0, 1.0) * last as f64;
    let below = at_rank(histogram, position.floor() as u64)?;
    let above = at_rank(histogram, position.ceil() as u64)?;
    Some(below + (above - below) * position.fract())
}

pub fn mean(histogram: &Histogram) -> Option<f64> {
    let n: u64 = histogram.iter().map(|(_, c)| c).sum();
    let sum: f64 = histogram.iter().map(|&(v, c)| v * c as f64).sum();
    (n > 0).then(|| sum / n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_percentile_cont() {
        let xs = [(10.0, 1), (20.0, 1), (30.0, 1), (40.0, 1)];
        assert_eq!(percentile(&xs, 0.5), Some(25.0));
        assert_eq!(percentile(&xs, 0.9), Some(37.0));
        assert_eq!(percentile(&[(7.0, 1)], 0.9), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(mean(&xs), Some(25.0));
        assert_eq!(mean(&[]), None);
    }

    #[test]
    fn counts_weigh_like_repeated_values() {
        // 10, 10, 10, 40: the median is 10, p90 is at position 2.7 → 10 + 30·0.7.
        let xs = [(10.0, 3), (40.0, 1)];
        assert_eq!(percentile(&xs, 0.5), Some(10.0));
        let p90 = percentile(&xs, 0.9).expect("p90");
        assert!((p90 - 31.0).abs() < 1e-9, "{p90}");
        assert_eq!(mean(&xs), Some(17.5));
    }
}
