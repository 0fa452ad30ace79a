//! The processor's TOML config loader and validation. Input: the TOML text, then optionally a
//! NUL byte and a value every environment variable the loader asks for is given.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use xcs_processor::config::Config;

fuzz_target!(|data: &[u8]| {
    let (text, env) = common::two(data);
    let (Ok(text), Ok(env)) = (std::str::from_utf8(text), std::str::from_utf8(env)) else {
        return;
    };
    let _ = Config::from_toml(text, |_| None);
    if !env.is_empty() {
        let _ = Config::from_toml(text, |_| Some(env.to_owned()));
    }
});
