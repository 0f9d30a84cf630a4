//! User-facing output shared by all commands: human lines and tables, and
//! `--format json` events. Nothing else in braid prints to stdout/stderr.

use std::io::Write;

/// Output format shared by the commands: human lines and tables, or
/// newline-delimited JSON events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Progress and summary tables for a person.
    Human,
    /// One JSON event per line on stdout.
    Json,
}

/// Prints a one-line error for the user on stderr: what went wrong, and its causes.
pub fn error_line(e: &anyhow::Error) {
    let mut line = format!("braid: error: {e}");
    for cause in e.chain().skip(1) {
        line.push_str(&format!(": {cause}"));
    }
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// `0-5` for a contiguous list, else `0,2,4`.
pub fn partition_list(ps: &[i32]) -> String {
    match (ps.first(), ps.last()) {
        (Some(a), Some(b)) if ps.len() > 2 && (b - a) as usize == ps.len() - 1 => {
            format!("{a}-{b}")
        }
        _ => ps
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// Prints one line on stdout and flushes it (so that a reading process sees
/// it at once). On a terminal, a line wider than it is wrapped at spaces
/// (continuation lines indented), never mid-word.
pub fn line(text: &str) {
    use std::io::IsTerminal;
    let text = match std::io::stdout()
        .is_terminal()
        .then(|| terminal_size(1))
        .flatten()
    {
        Some((cols, _)) => wrap(text, cols),
        None => text.to_string(),
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// The size (columns, rows) of the terminal on file descriptor `fd`
/// (ioctl TIOCGWINSZ), else from `COLUMNS` and `LINES`; `None` when neither
/// says.
pub fn terminal_size(fd: i32) -> Option<(usize, usize)> {
    let mut ws = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize into the struct it is given.
    let ok = unsafe { nix::libc::ioctl(fd, nix::libc::TIOCGWINSZ, &mut ws) } == 0;
    if ok && ws.ws_col > 0 {
        return Some((ws.ws_col as usize, (ws.ws_row as usize).max(1)));
    }
    let env = |k: &str| std::env::var(k).ok()?.trim().parse::<usize>().ok();
    let cols = env("COLUMNS").filter(|c| *c > 0)?;
    Some((cols, env("LINES").filter(|r| *r > 0).unwrap_or(24)))
}

/// `text` cut to at most `width` characters (the last one `~` when cut).
pub fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    if width > 0 {
        out.push('~');
    }
    out
}

/// Wraps each line of `text` at spaces so that none is wider than `width`
/// (a word longer than a line is cut); continuation lines are indented by
/// four spaces more than the line they continue. Runs of spaces inside a
/// line (a table's alignment) are kept.
pub fn wrap(text: &str, width: usize) -> String {
    let width = width.max(20);
    let mut out = Vec::new();
    for l in text.split('\n') {
        let lead = l.chars().take_while(|c| *c == ' ').count();
        let indent = " ".repeat((lead + 4).min(width / 2));
        let mut cur: Vec<char> = l.chars().collect();
        while cur.len() > width {
            let floor = indent.len() + 1;
            // The last space that leaves a line no wider than `width`.
            let cut = (floor..=width)
                .rev()
                .find(|&i| cur[i] == ' ' && cur[i - 1] != ' ')
                .unwrap_or(width);
            let head: String = cur[..cut].iter().collect();
            out.push(head.trim_end().to_string());
            let rest: String = cur[cut..].iter().collect();
            cur = format!("{indent}{}", rest.trim_start()).chars().collect();
        }
        out.push(cur.into_iter().collect());
    }
    out.join("\n")
}

/// [`table`] laid out for a terminal `width` columns wide: as it is when it
/// fits; otherwise its last column wraps under itself, and a row still too
/// wide is wrapped by [`wrap`].
pub fn table_fit(header: &[&str], rows: &[Vec<String>], width: Option<usize>) -> String {
    let full = table(header, rows);
    let Some(width) = width else { return full };
    if full.lines().all(|l| l.chars().count() <= width) || header.len() < 2 {
        return full;
    }
    // Where the last column starts: the width of the others, and two spaces.
    let first: Vec<&str> = header[..header.len() - 1].to_vec();
    let rows_first: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().take(header.len() - 1).cloned().collect())
        .collect();
    let left = table(&first, &rows_first);
    let start = left.lines().map(|l| l.chars().count()).max().unwrap_or(0) + 2;
    let last = |i: usize| -> String {
        if i == 0 {
            header[header.len() - 1].to_string()
        } else {
            rows[i - 1]
                .get(header.len() - 1)
                .cloned()
                .unwrap_or_default()
        }
    };
    // The last column's text in lines of at most `w` characters.
    let body = |text: &str, w: usize| -> Vec<String> {
        wrap(text, w)
            .lines()
            .map(|l| l.trim().to_string())
            .collect()
    };
    let mut out = Vec::new();
    let stacked = start + 30 > width;
    for (i, l) in left.lines().enumerate() {
        let text = last(i);
        if stacked {
            // Too narrow beside the others: under its row, indented.
            out.push(l.trim_end().to_string());
            if i > 0 && !text.is_empty() {
                out.extend(
                    body(&text, width - 4)
                        .into_iter()
                        .map(|b| format!("    {b}")),
                );
            }
            continue;
        }
        let pad = " ".repeat(start.saturating_sub(l.chars().count()));
        for (j, b) in body(&text, width - start).into_iter().enumerate() {
            if j == 0 {
                out.push(format!("{l}{pad}{b}").trim_end().to_string());
            } else {
                out.push(format!("{}{b}", " ".repeat(start)));
            }
        }
        if text.is_empty() {
            out.push(l.trim_end().to_string());
        }
    }
    wrap(&out.join("\n"), width)
}

/// The width of the terminal on stdout, if it is one.
pub fn stdout_width() -> Option<usize> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size(1).map(|(c, _)| c)
}

/// Writes one `--format json` event as a line on stdout and flushes it.
/// Every command's events go through here.
pub fn emit_json<T: serde::Serialize + ?Sized>(event: &T) {
    let mut buf = match serde_json::to_vec(event) {
        Ok(b) => b,
        Err(e) => {
            log::error!("cannot serialize an event: {e}");
            return;
        }
    };
    buf.push(b'\n');
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&buf);
    let _ = out.flush();
}

/// Milliseconds since the Unix epoch, the `timestamp` of JSON events.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Whether stderr, where progress goes, is a terminal.
pub fn progress_on_terminal() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

/// Shows a progress line on stderr: redrawn in place on a terminal,
/// otherwise printed as a plain line (callers do that about once a second).
pub fn progress(text: &str) {
    let mut err = std::io::stderr().lock();
    if progress_on_terminal() {
        // One character short of the width: a full line would wrap.
        let width = terminal_size(2).map_or(usize::MAX, |(c, _)| c.saturating_sub(1));
        let text = truncate(text, width);
        let _ = write!(err, "\r{text}\x1b[K");
    } else {
        let _ = writeln!(err, "{text}");
    }
    let _ = err.flush();
}

/// Ends an in-place progress line (clears it on a terminal; nothing otherwise).
pub fn progress_done() {
    if progress_on_terminal() {
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[K");
        let _ = err.flush();
    }
}

/// Renders rows as a table with aligned columns: the first column left
/// aligned, the others right aligned, two spaces between columns.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let ncols = header.len();
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(ncols) {
            width[i] = width[i].max(cell.chars().count());
        }
    }
    let render = |cells: &mut dyn Iterator<Item = &str>| {
        let mut line = String::new();
        for (i, cell) in cells.enumerate().take(ncols) {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = width[i].saturating_sub(cell.chars().count());
            if i == 0 {
                line.push_str(cell);
                line.push_str(&" ".repeat(pad));
            } else {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
        }
        line.trim_end().to_string()
    };
    let mut out = render(&mut header.iter().copied());
    for row in rows {
        out.push('\n');
        out.push_str(&render(&mut row.iter().map(String::as_str)));
    }
    out
}

/// Formats an integer with thousands separators: 1234567 → "1,234,567".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Prints one line on stderr (notes and warnings meant for a person),
/// wrapped like [`line`] when stderr is a terminal.
pub fn line_err(text: &str) {
    let text = match progress_on_terminal().then(|| terminal_size(2)).flatten() {
        Some((cols, _)) => wrap(text, cols),
        None => text.to_string(),
    };
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
    let _ = err.flush();
}

/// Redraws a multi-line live area on stderr (a terminal): moves up over the
/// `previous` lines drawn last time and writes `lines` in their place.
/// Returns how many lines are now drawn.
///
/// The area fits the terminal: each line is cut one character short of its
/// width (a full line would wrap, and the cursor moves would miss), and an
/// area taller than the terminal keeps its first rows and says how many
/// more there are (moving up past the top of the screen cannot repaint).
pub fn live_area(lines: &[String], previous: usize) -> usize {
    let lines = fit_area(lines, terminal_size(2));
    let lines = lines.as_slice();
    let mut err = std::io::stderr().lock();
    let mut out = String::new();
    if previous > 0 {
        out.push_str(&format!("\x1b[{previous}A"));
    }
    for l in lines {
        out.push('\r');
        out.push_str(l);
        out.push_str("\x1b[K\n");
    }
    // Clear what is left of a taller previous drawing.
    for _ in lines.len()..previous {
        out.push_str("\r\x1b[K\n");
    }
    if previous > lines.len() {
        out.push_str(&format!("\x1b[{}A", previous - lines.len()));
    }
    let _ = err.write_all(out.as_bytes());
    let _ = err.flush();
    lines.len()
}

/// `lines` cut to a terminal of `size` (columns, rows); see [`live_area`].
pub fn fit_area(lines: &[String], size: Option<(usize, usize)>) -> Vec<String> {
    let Some((cols, rows)) = size else {
        return lines.to_vec();
    };
    let width = cols.saturating_sub(1).max(1);
    // Leave two rows: the cursor's line, and one for the line above.
    let max_rows = rows.saturating_sub(2).max(1);
    let mut out: Vec<String> = lines.iter().map(|l| truncate(l, width)).collect();
    if out.len() > max_rows {
        let hidden = out.len() - (max_rows - 1);
        out.truncate(max_rows - 1);
        out.push(truncate(&format!("  ... {hidden} more rows"), width));
    }
    out
}

/// Erases a live area of `previous` lines drawn by [`live_area`].
pub fn clear_live_area(previous: usize) {
    if previous == 0 {
        return;
    }
    let mut err = std::io::stderr().lock();
    let mut out = format!("\x1b[{previous}A");
    for _ in 0..previous {
        out.push_str("\r\x1b[K\n");
    }
    out.push_str(&format!("\x1b[{previous}A"));
    let _ = err.write_all(out.as_bytes());
    let _ = err.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn lines_fit_the_terminal() {
        assert_eq!(truncate("abcdef", 4), "abc~");
        assert_eq!(truncate("abc", 4), "abc");
        let w = wrap(&format!("  head {}", "word ".repeat(40)), 30);
        assert!(w.lines().all(|l| l.chars().count() <= 30), "{w}");
        assert!(w.lines().skip(1).all(|l| l.starts_with("      ")), "{w}");
        assert_eq!(wrap("short", 80), "short");
        // Alignment inside a line survives.
        assert_eq!(wrap("a    b", 80), "a    b");
        let t = table_fit(
            &["check", "result", "details"],
            &[vec!["dup".into(), "5".into(), "word ".repeat(30)]],
            Some(60),
        );
        assert!(t.lines().all(|l| l.chars().count() <= 60), "{t}");
        assert!(
            t.lines()
                .nth(2)
                .unwrap()
                .starts_with(&format!("{}word", " ".repeat(15))),
            "{t}"
        );
        let narrow = table_fit(
            &["check", "result", "details"],
            &[vec!["dup".into(), "x".repeat(40), "word ".repeat(30)]],
            Some(60),
        );
        assert!(narrow.lines().all(|l| l.chars().count() <= 60), "{narrow}");
        assert!(
            narrow.lines().nth(2).unwrap().starts_with("    word"),
            "{narrow}"
        );
        let lines: Vec<String> = (0..40)
            .map(|i| format!("row {i} {}", "x".repeat(100)))
            .collect();
        let fit = fit_area(&lines, Some((80, 24)));
        assert_eq!(fit.len(), 22);
        assert!(fit.iter().all(|l| l.chars().count() < 80));
        assert!(fit[21].contains("19 more rows"), "{}", fit[21]);
        assert_eq!(fit_area(&lines, None).len(), 40);
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["thread", "sent"],
            &[
                vec!["0".into(), "5".into()],
                vec!["all".into(), "12345".into()],
            ],
        );
        assert_eq!(t, "thread   sent\n0           5\nall     12345");
    }
}
