//! `${VAR}` interpolation, from (in this order) the process environment, the file that
//! `VAR_FILE` names (Docker and Kubernetes secrets), the file `$CREDENTIALS_DIRECTORY/VAR`
//! (systemd's `LoadCredential=`), then the env file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How `tally init` marks what is left to fill in: `<fill in: what>`.
pub const PLACEHOLDER: &str = "<fill in";

/// How an issue about a placeholder starts.
pub const LEFT: &str = "still to fill in:";

/// True when `text` is one `${VAR}` and nothing else: a value that is a secret as a whole.
pub fn is_reference(text: &str) -> bool {
    let text = text.trim();
    text.strip_prefix("${")
        .and_then(|t| t.strip_suffix('}'))
        .is_some_and(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Why `${VAR}` could not be filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// The variable is not set, or still holds a `<fill in: ...>` placeholder: only the commands
    /// that use the value need it.
    Missing(String),
    /// The reference itself is wrong (`${` unclosed, a bad name): always an error.
    Malformed(String),
}

/// Variables available to `${VAR}`: the process environment, then secret files, then the env
/// file.
#[derive(Debug, Default)]
pub struct Env {
    file: Option<PathBuf>,
    from_file: HashMap<String, String>,
}

impl Env {
    /// Reads the env file, when there is one. A missing default file is not an error; a file
    /// the user named explicitly must exist.
    pub fn load(file: Option<&Path>, required: bool) -> Result<Env, String> {
        let Some(path) = file else {
            return Ok(Env::default());
        };
        if !path.exists() {
            return if required {
                Err(format!("env file {} does not exist", path.display()))
            } else {
                Ok(Env::default())
            };
        }
        let iter = dotenvy::from_path_iter(path)
            .map_err(|e| format!("cannot read env file {}: {e}", path.display()))?;
        let mut from_file = HashMap::new();
        for item in iter {
            let (k, v) = item.map_err(|e| parse_error(path, e))?;
            from_file.insert(k, v);
        }
        Ok(Env {
            file: Some(path.to_path_buf()),
            from_file,
        })
    }

    /// `name`'s value: the environment variable, the file `NAME_FILE` names, the file
    /// `$CREDENTIALS_DIRECTORY/NAME`, or the env file's. A secret file that exists but cannot be
    /// read is an error that names it, never its content.
    fn get(&self, name: &str) -> Result<Option<String>, Unresolved> {
        if let Ok(value) = std::env::var(name) {
            return Ok(Some(value));
        }
        let named = format!("{name}_FILE");
        if let Some(path) = std::env::var_os(&named) {
            let path = PathBuf::from(path);
            return read_secret(&path).map(Some).map_err(|e| {
                Unresolved::Malformed(format!("{named} names {}, {e}", path.display()))
            });
        }
        if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
            let path = Path::new(&dir).join(name);
            if path.exists() {
                return read_secret(&path).map(Some).map_err(|e| {
                    Unresolved::Malformed(format!(
                        "the credential {} (CREDENTIALS_DIRECTORY), {e}",
                        path.display()
                    ))
                });
            }
        }
        Ok(self.from_file.get(name).cloned())
    }

    /// Replaces every `${VAR}` in `text`. The error names the variable and where it was looked
    /// for.
    pub fn interpolate(&self, text: &str) -> Result<String, String> {
        self.resolve(text).map_err(|e| match e {
            Unresolved::Missing(m) | Unresolved::Malformed(m) => m,
        })
    }

    /// [`Env::interpolate`], telling a variable that is not set (or still a placeholder) from a
    /// reference written wrong.
    pub fn resolve(&self, text: &str) -> Result<String, Unresolved> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let end = after.find('}').ok_or_else(|| {
                Unresolved::Malformed("unclosed `${` (expected `${NAME}`)".to_string())
            })?;
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(Unresolved::Malformed(format!(
                    "`${{{name}}}` is not a valid variable name"
                )));
            }
            let value = self.get(name)?.ok_or_else(|| {
                let place = match &self.file {
                    Some(f) => format!("the environment, {name}_FILE or {}", f.display()),
                    None => format!("the environment or {name}_FILE (no env file was found)"),
                };
                Unresolved::Missing(format!("variable {name} is not set in {place}"))
            })?;
            if value.contains(PLACEHOLDER) {
                let place = self
                    .file
                    .as_ref()
                    .map_or("the environment".to_string(), |f| f.display().to_string());
                return Err(Unresolved::Missing(format!(
                    "{LEFT} set {name} in {place} ({value})"
                )));
            }
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// A secret file's content, without one trailing newline (`echo` writes one); the error says
/// why it cannot be read, never what it holds.
fn read_secret(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("which cannot be read: {}", e.kind()))?;
    let text = String::from_utf8(bytes).map_err(|_| "which is not UTF-8 text".to_string())?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    Ok(text.to_string())
}

/// An env file that cannot be read, named with the line, never quoting it: the line may hold a
/// password or a token.
fn parse_error(path: &Path, e: dotenvy::Error) -> String {
    match e {
        dotenvy::Error::LineParse(line, _) => {
            let number = std::fs::read_to_string(path).ok().and_then(|text| {
                let wanted = line.lines().next().unwrap_or("").trim().to_string();
                text.lines()
                    .position(|l| l.trim() == wanted || l.contains(&wanted))
            });
            match number {
                Some(n) => format!(
                    "env file {}, line {}: not NAME=value (quote values with spaces or special characters)",
                    path.display(),
                    n + 1
                ),
                None => format!(
                    "env file {}: a line is not NAME=value (quote values with spaces or special characters)",
                    path.display()
                ),
            }
        }
        other => format!("env file {}: {other}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_line_is_named_by_number_without_its_value() {
        let dir = std::env::temp_dir().join(format!("tally-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(".env");
        std::fs::write(
            &file,
            "A=1\n# note\nSLACK_BOT_TOKEN=xoxb-secret'unclosed\nB=2\n",
        )
        .unwrap();
        let e = Env::load(Some(&file), true).unwrap_err();
        assert!(e.contains("line 3") && !e.contains("xoxb-secret"), "{e}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn replaces_from_file_and_reports_missing() {
        let mut env = Env::default();
        env.from_file
            .insert("TALLY_UNIT_A".into(), "postgres://x".into());
        assert_eq!(
            env.interpolate("${TALLY_UNIT_A}/db").unwrap(),
            "postgres://x/db"
        );
        let err = env.interpolate("${TALLY_UNIT_MISSING}").unwrap_err();
        assert!(err.contains("TALLY_UNIT_MISSING"), "{err}");
        assert!(env.interpolate("${oops").is_err());
    }
}
