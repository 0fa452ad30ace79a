//! The ingress's TOML config loader and validation. Input: the TOML text, then optionally a
//! NUL byte and a value every environment variable the loader asks for is given (secrets,
//! tokens).
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, env) = common::two(data);
    let (Ok(text), Ok(env)) = (std::str::from_utf8(text), std::str::from_utf8(env)) else {
        return;
    };
    if let Ok(config) = xcs_ingress::Config::from_toml(text, |_| None) {
        let _ = config.warnings();
    }
    if !env.is_empty()
        && let Ok(config) = xcs_ingress::Config::from_toml(text, |_| Some(env.to_owned()))
    {
        let _ = config.warnings();
    }
});
