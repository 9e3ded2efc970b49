//! `${VAR}` interpolation from the process environment, then the env file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Variables available to `${VAR}`: the process environment wins over the env file.
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
            let (k, v) = item.map_err(|e| format!("env file {}: {e}", path.display()))?;
            from_file.insert(k, v);
        }
        Ok(Env {
            file: Some(path.to_path_buf()),
            from_file,
        })
    }

    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.from_file.get(name).cloned())
    }

    /// Replaces every `${VAR}` in `text`. The error names the variable and where it was looked for.
    pub fn interpolate(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| "unclosed `${` (expected `${NAME}`)".to_string())?;
            let name = &after[..end];
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("`${{{name}}}` is not a valid variable name"));
            }
            let value = self.get(name).ok_or_else(|| {
                let place = match &self.file {
                    Some(f) => format!("the environment or {}", f.display()),
                    None => "the environment (no env file was found)".to_string(),
                };
                format!("variable {name} is not set in {place}")
            })?;
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
