//! Customer tokens: random bearer secrets of which only the SHA-256 is stored.
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A fresh customer token (64 hex characters, 256 random bits) and its SHA-256 for
/// [`super::NewConversation::token_sha256`]. Give the token to the customer once; keep only the
/// hash.
pub fn new_customer_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = hex::encode(bytes);
    let hash = sha256_hex(&token);
    (token, hash)
}

/// SHA-256 of `token`, lowercase hex.
pub fn sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, ha) = new_customer_token();
        let (b, _) = new_customer_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_eq!(ha, sha256_hex(&a));
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
