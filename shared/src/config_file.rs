//! How both binaries read their configuration, written once: a TOML file, then the
//! environment's overrides (secrets, URIs), then the binary's own checks. Every error names the
//! file; TOML's own errors add the line and the field, and a failed check names the field and
//! the fix.
//!
//! Each binary keeps its typed configuration and its checks in its own crate and implements
//! [`ConfigFile`] for the file's shape; [`load`] and [`from_toml`] do the rest.

use std::path::Path;

use serde::de::DeserializeOwned;

/// What [`from_toml`]'s errors name as the file.
const INLINE: &str = "<inline>";

/// A configuration file's shape: what its TOML deserializes to, what the environment overrides,
/// and how it becomes the configuration a binary runs with.
pub trait ConfigFile: DeserializeOwned {
    /// What the binary runs with.
    type Config;

    /// Replaces what the environment sets: secrets live there rather than in the file.
    fn apply_env(&mut self, env: &Env<'_>);

    /// Checks the whole and builds the configuration.
    ///
    /// # Errors
    /// What is wrong, naming the field (`server.body_limit_bytes`, `shop "acme"`) and the fix.
    fn validate(self) -> Result<Self::Config, String>;
}

/// A configuration that cannot be used, and why, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Not TOML, or not the file's shape: the TOML error names the line and the field.
    #[error("config file {path} is not valid: {source}")]
    Parse {
        path: String,
        source: Box<toml::de::Error>,
    },
    #[error("config file {path}: {problem}")]
    Invalid { path: String, problem: String },
}

/// The environment a configuration is read with: the process's own for [`load`], a stand-in
/// for [`from_toml`] (tests, fuzzing).
pub struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The variable `name`, when it is set.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }

    /// The variable `{shop_env_prefix(shop)}{name}`, e.g. `XCS_SHOP_ACME_SECRETS`.
    pub fn shop_var(&self, shop: &str, name: &str) -> Option<String> {
        self.var(&format!("{}{name}", shop_env_prefix(shop)))
    }

    /// Replaces `field` by the variable `name` when it is set.
    pub fn override_with<T: From<String>>(&self, field: &mut T, name: &str) {
        if let Some(value) = self.var(name) {
            *field = value.into();
        }
    }
}

/// `XCS_SHOP_<NAME>_`: the prefix of a shop's secrets in the environment, with the shop name
/// upper-cased and anything but letters and digits turned into `_`.
pub fn shop_env_prefix(shop: &str) -> String {
    let name: String = shop
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("XCS_SHOP_{name}_")
}

/// Refuses a shop's `tenant` that is not a Xero organisation id (a UUID in its hyphenated form,
/// as Xero's `/connections` lists it): any other value routes events to a tenant no token can
/// reach, and is found only when the first event dead-letters.
///
/// # Errors
/// The shop, the value and where the id comes from.
pub fn check_tenant(shop: &str, tenant: &str) -> Result<(), String> {
    let hyphenated = tenant.len() == 36 && uuid::Uuid::try_parse(tenant).is_ok();
    if hyphenated {
        return Ok(());
    }
    Err(format!(
        "shop {shop:?}: tenant {tenant:?} is not a Xero organisation id (a UUID such as \
         a3a6c1f2-4d0b-4f59-9c1e-5b7e2f1d9a01); `xcs-processor connect` prints each connected \
         organisation's id"
    ))
}

/// The value of a secret that may come from the file or the environment alone, or the error
/// naming both when neither set it.
///
/// # Errors
/// `field` and `variable`, the two places it can be set.
pub fn require_secret(
    secret: &secrecy::SecretString,
    field: &str,
    variable: &str,
) -> Result<(), String> {
    use secrecy::ExposeSecret as _;
    if secret.expose_secret().trim().is_empty() {
        return Err(format!(
            "{field} is not set: set it in the file, or set {variable} in the environment (which \
             keeps the secret out of the file)"
        ));
    }
    Ok(())
}

/// An empty secret, for `#[serde(default = ...)]` on a secret the environment may set instead of
/// the file; [`require_secret`] refuses it if neither did.
pub fn unset_secret() -> secrecy::SecretString {
    secrecy::SecretString::from(String::new())
}

/// Reads the file at `path`, applies the process's environment, and validates the result.
///
/// # Errors
/// [`ConfigError`] naming the file, and the line, field or shop that is wrong.
pub fn load<F: ConfigFile>(path: &Path) -> Result<F::Config, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: name.clone(),
        source,
    })?;
    read::<F>(&text, &name, &|var| std::env::var(var).ok())
}

/// [`load`] for text rather than a file, with `env` standing in for the environment; errors
/// name the file `<inline>`.
///
/// # Errors
/// [`ConfigError`] naming the line, field or shop that is wrong.
pub fn from_toml<F: ConfigFile>(
    text: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<F::Config, ConfigError> {
    read::<F>(text, INLINE, &env)
}

fn read<F: ConfigFile>(
    text: &str,
    path: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<F::Config, ConfigError> {
    let mut file: F = toml::from_str(text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source: Box::new(source),
    })?;
    file.apply_env(&Env(env));
    file.validate().map_err(|problem| ConfigError::Invalid {
        path: path.to_owned(),
        problem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        uri: String,
        #[serde(default)]
        limit: u32,
    }

    impl ConfigFile for Sample {
        type Config = (String, u32);

        fn apply_env(&mut self, env: &Env<'_>) {
            env.override_with(&mut self.uri, "XCS_URI");
        }

        fn validate(self) -> Result<Self::Config, String> {
            if self.limit > 10 {
                return Err("limit must be 0..=10".into());
            }
            Ok((self.uri, self.limit))
        }
    }

    #[test]
    fn the_environment_overrides_the_file_before_validation() {
        let env = |name: &str| (name == "XCS_URI").then(|| "from-env".to_owned());
        let config = from_toml::<Sample>("uri = \"from-file\"\nlimit = 3", env).unwrap();
        assert_eq!(config, ("from-env".to_owned(), 3));
        let config = from_toml::<Sample>("uri = \"from-file\"", |_| None).unwrap();
        assert_eq!(config.0, "from-file");
    }

    #[test]
    fn every_error_names_the_file_and_parse_errors_the_line_and_field() {
        let dir = std::env::temp_dir().join(format!("xcs-config-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sample.toml");

        std::fs::write(&path, "uri = \"x\"\nlimt = 3\n").unwrap();
        let err = load::<Sample>(&path).unwrap_err().to_string();
        assert!(
            err.contains("sample.toml") && err.contains("line 2") && err.contains("limt"),
            "{err}"
        );

        std::fs::write(&path, "uri = \"x\"\nlimit = 11\n").unwrap();
        let err = load::<Sample>(&path).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { .. }), "{err:?}");
        let err = err.to_string();
        assert!(err.contains("sample.toml: limit must be 0..=10"), "{err}");

        let missing = dir.join("missing.toml");
        let err = load::<Sample>(&missing).unwrap_err().to_string();
        assert!(err.starts_with("cannot read config file") && err.contains("missing.toml"));
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn shop_names_become_environment_prefixes() {
        assert_eq!(shop_env_prefix("acme-bc"), "XCS_SHOP_ACME_BC_");
        let env = |name: &str| (name == "XCS_SHOP_NZ_WOO_SECRETS").then(|| "s".to_owned());
        assert_eq!(
            Env(&env).shop_var("nz.woo", "SECRETS").as_deref(),
            Some("s")
        );
    }
}
