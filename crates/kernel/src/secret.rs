//! The deployment secret that signs tokens. From `ROOKERY_SECRET`, or in
//! embedded mode generated once and kept in the data directory.

use std::path::Path;

use anyhow::Context;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// `ROOKERY_SECRET` (at least 32 bytes), if set.
    pub fn from_env() -> anyhow::Result<Option<Self>> {
        match std::env::var("ROOKERY_SECRET") {
            Ok(s) if s.len() >= 32 => Ok(Some(Self(s.into_bytes()))),
            Ok(_) => anyhow::bail!("ROOKERY_SECRET must be at least 32 characters"),
            Err(_) => Ok(None),
        }
    }

    /// `ROOKERY_SECRET`, else `<dir>/secret`, created with fresh randomness on first use.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Self> {
        if let Some(s) = Self::from_env()? {
            return Ok(s);
        }
        let path = dir.join("secret");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let text = text.trim();
            anyhow::ensure!(text.len() >= 32, "{} is too short", path.display());
            return Ok(Self(text.as_bytes().to_vec()));
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let bytes: [u8; 32] = rand::random();
        let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        write_private(&path, &text).with_context(|| format!("writing {}", path.display()))?;
        Ok(Self(text.into_bytes()))
    }

    /// A key for one purpose, so no two uses share key material.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Secret::load_or_create(dir.path()).unwrap();
        let b = Secret::load_or_create(dir.path()).unwrap();
        assert_eq!(a.derive("x"), b.derive("x"));
        assert_ne!(a.derive("x"), a.derive("y"));
    }
}
