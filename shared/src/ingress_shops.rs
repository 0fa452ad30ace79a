//! The `[shops]` of the ingress's config file, as both binaries read them. The ingress builds
//! each shop's webhook verification from them (its platform's file picks the scheme); the
//! processor's `check` and `test-transaction` read them to compare the two configs and to sign a
//! test order, without linking the ingress.

use std::collections::BTreeMap;
use std::path::Path;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

use crate::Platform;
use crate::config_file::{self, ConfigError, ConfigFile, Env};

/// One `[shops.NAME]` of the ingress's config, with the environment's values applied. Which of
/// the optional fields a shop needs depends on its platform, which is the ingress's to check.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngressShop {
    pub platform: Platform,
    /// The Xero organisation id its events book into.
    pub tenant: String,
    /// Webhook signing secrets; every one is accepted, so a secret can be rotated.
    /// `XCS_SHOP_<NAME>_SECRETS` replaces them, one a line (secrets may hold spaces and commas).
    #[serde(default)]
    pub secrets: Vec<SecretString>,
    /// Static headers a platform can be told to send back with each delivery (BigCommerce).
    #[serde(default)]
    pub required_headers: BTreeMap<String, SecretString>,
    /// Part of eBay's endpoint challenge; `XCS_SHOP_<NAME>_VERIFICATION_TOKEN` replaces it.
    pub verification_token: Option<SecretString>,
    /// The exact webhook URL registered with eBay, also part of its challenge.
    pub endpoint_url: Option<String>,
    /// The Adobe client id events must be addressed to; empty is the same as unset.
    #[serde(default, deserialize_with = "non_empty")]
    pub client_id: Option<String>,
}

/// The ingress's shops, by name.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct IngressShops(BTreeMap<String, IngressShop>);

impl IngressShops {
    /// Reads the `[shops]` of the ingress's config file at `path`, with the process's
    /// environment, and checks what [`validate`](Self::validate) checks. The file's other tables
    /// are the ingress's business and are not checked here.
    ///
    /// # Errors
    /// [`ConfigError`] naming the file, and the line or shop that is wrong.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        config_file::load::<ShopsOnly>(path)
    }

    pub fn get(&self, name: &str) -> Option<&IngressShop> {
        self.0.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Replaces each shop's secrets and verification token with the environment's
    /// (`XCS_SHOP_<NAME>_SECRETS`, one a line; `XCS_SHOP_<NAME>_VERIFICATION_TOKEN`).
    pub fn apply_env(&mut self, env: &Env<'_>) {
        for (name, shop) in &mut self.0 {
            if let Some(list) = env.shop_var(name, "SECRETS") {
                shop.secrets = list
                    .lines()
                    .map(str::trim_end)
                    .filter(|line| !line.is_empty())
                    .map(|line| SecretString::from(line.to_owned()))
                    .collect();
            }
            if let Some(token) = env.shop_var(name, "VERIFICATION_TOKEN") {
                shop.verification_token = Some(token.into());
            }
        }
    }

    /// Checks what every shop needs whatever its platform: a name that can be a URL path
    /// segment, a tenant, and an environment prefix of its own.
    ///
    /// # Errors
    /// The first problem, naming the shop and the fix.
    pub fn validate(&self) -> Result<(), String> {
        let mut prefixes = BTreeMap::new();
        for (name, shop) in &self.0 {
            let env_prefix = config_file::shop_env_prefix(name);
            if let Some(other) = prefixes.insert(env_prefix.clone(), name) {
                return Err(format!(
                    "shops {other:?} and {name:?} share the environment prefix {env_prefix}; rename one"
                ));
            }
            let valid_name = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid_name {
                return Err(format!(
                    "shop {name:?}: a shop name is 1 to 64 letters, digits, '-', '_' or '.' (it \
                     is a URL path segment)"
                ));
            }
            config_file::check_tenant(name, &shop.tenant)?;
        }
        Ok(())
    }
}

impl IntoIterator for IngressShops {
    type Item = (String, IngressShop);
    type IntoIter = std::collections::btree_map::IntoIter<String, IngressShop>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// The ingress's config file, read for its shops only.
#[derive(Deserialize)]
struct ShopsOnly {
    #[serde(default)]
    shops: IngressShops,
}

impl ConfigFile for ShopsOnly {
    type Config = IngressShops;

    fn apply_env(&mut self, env: &Env<'_>) {
        self.shops.apply_env(env);
    }

    fn validate(self) -> Result<IngressShops, String> {
        self.shops.validate()?;
        Ok(self.shops)
    }
}

fn non_empty<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(deserializer)?.filter(|value| !value.is_empty()))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    const INGRESS: &str = r#"
        [server]
        listen = "127.0.0.1:0"
        [amqp]
        uri = "amqp://localhost"

        [shops.acme]
        platform = "shopify"
        tenant = "00000000-0000-4000-8000-000000000001"
        secrets = ["file-secret"]

        [shops.bay]
        platform = "ebay"
        tenant = "00000000-0000-4000-8000-000000000002"
        client_id = ""
    "#;

    fn shops(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<IngressShops, String> {
        config_file::from_toml::<ShopsOnly>(text, env).map_err(|err| err.to_string())
    }

    #[test]
    fn the_shops_are_read_with_the_environment_and_the_other_tables_left_alone() {
        let shops = shops(INGRESS, |name| {
            (name == "XCS_SHOP_ACME_SECRETS").then(|| "new, with comma\nold\n".to_owned())
        })
        .unwrap();
        let acme = shops.get("acme").unwrap();
        assert_eq!(acme.platform, Platform::Shopify);
        let secrets: Vec<&str> = acme.secrets.iter().map(|s| s.expose_secret()).collect();
        assert_eq!(secrets, ["new, with comma", "old"]);
        assert_eq!(shops.get("bay").unwrap().client_id, None, "empty is unset");
        assert_eq!(shops.names().collect::<Vec<_>>(), ["acme", "bay"]);
    }

    #[test]
    fn a_shop_field_typo_a_tenant_that_is_no_organisation_id_and_shared_prefixes_are_refused() {
        let err = shops(&INGRESS.replace("secrets =", "secret ="), |_| None).unwrap_err();
        assert!(err.contains("secret"), "{err}");
        let one = "00000000-0000-4000-8000-000000000001";
        for tenant in [
            " ",
            "tenant-1",
            "Demo Company (NZ)",
            &one[..35],
            &format!("{one}0"),
        ] {
            let err = shops(&INGRESS.replace(one, tenant), |_| None).unwrap_err();
            assert!(
                err.contains("shop \"acme\": tenant") && err.contains("connect"),
                "{tenant:?}: {err}"
            );
        }
        let twins = format!("{INGRESS}\n[shops.ACME]\nplatform = \"etsy\"\ntenant = \"{one}\"\n");
        let err = shops(&twins, |_| None).unwrap_err();
        assert!(err.contains("XCS_SHOP_ACME_"), "{err}");
    }
}
