//! Mean, median and 90th percentile of durations. SQLite has no percentile function, so the SQL
//! selects each duration and the order statistics are taken here, the same for both dialects.
//! Percentiles interpolate linearly between the closest ranks (as PostgreSQL's
//! `percentile_cont`): with n sorted values, the p-th is at position p·(n−1).

/// `p` in [0, 1] of `sorted` (ascending); None when empty.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    let last = sorted.len().checked_sub(1)?;
    let position = p.clamp(0.0, 1.0) * last as f64;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let fraction = position - below as f64;
    Some(sorted[below] + (sorted[above] - sorted[below]) * fraction)
}

pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_percentile_cont() {
        let xs = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(percentile(&xs, 0.5), Some(25.0));
        assert_eq!(percentile(&xs, 0.9), Some(37.0));
        assert_eq!(percentile(&[7.0], 0.9), Some(7.0));
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(mean(&xs), Some(25.0));
        assert_eq!(mean(&[]), None);
    }
}
