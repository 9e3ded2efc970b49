//! Standard output, for what the commands print. A reader that stops early (`tally query ... |
//! head`) closes the pipe; the write then fails with `BrokenPipe`, which the top takes as the
//! end of the command, quietly, as other command-line tools do (`println!` would panic).

use std::io::Write;

/// Writes `text` and a newline.
pub fn line(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.write_all(b"\n")
}

/// Writes `bytes` as they are.
pub fn write(bytes: &[u8]) -> std::io::Result<()> {
    std::io::stdout().lock().write_all(bytes)
}
