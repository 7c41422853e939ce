//! Peak memory of the benchmark process, read from the kernel where it reports it.

/// The process's peak resident set size (VmHWM), where the platform reports it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Bytes as MiB, for people.
pub(super) fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A peak RSS figure for people, or "unknown" where the platform does not report it.
pub(super) fn rss_text(rss: Option<u64>) -> String {
    rss.map(|b| format!("{:.1} MiB", mib(b)))
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_read_where_the_kernel_reports_it() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(peak_rss_bytes().is_some_and(|b| b > 0));
        }
        assert_eq!(rss_text(None), "unknown");
        assert_eq!(rss_text(Some(3 * 1024 * 1024)), "3.0 MiB");
    }
}
