//! One credential's token state as it sits in proxy-wasm shared data, seen by every worker.

/// Absent fields are zero/None. `generation` counts tokens stored, so a worker can tell which
/// token it used when Vertex later refuses it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub token: Option<String>,
    pub generation: u64,
    pub expires_at_ms: u64,
    /// A worker holds the fetch lease until then; it lapses if that worker never answers.
    pub lease_until_ms: u64,
    pub failures: u32,
    /// When the last fetch failed; requests with no usable token retry at most once a second.
    pub failed_at_ms: u64,
    /// When the background refresh may try again (exponential backoff).
    pub retry_at_ms: u64,
    /// The code of the last failed fetch, shown in 503s while no token is usable.
    pub last_error: Option<String>,
}

const VERSION: &str = "v1";

impl Entry {
    /// `v1|generation|expires|lease|failures|failed_at|retry|error|token`: the token last, as it is the only
    /// field that could be long; no field contains `|` (codes and tokens are checked printable and
    /// codes carry no `|`).
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "{VERSION}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.generation,
            self.expires_at_ms,
            self.lease_until_ms,
            self.failures,
            self.failed_at_ms,
            self.retry_at_ms,
            self.last_error.as_deref().unwrap_or(""),
            self.token.as_deref().unwrap_or("")
        )
        .into_bytes()
    }

    /// `None` for anything this version did not write; the caller treats that as empty.
    pub fn decode(bytes: &[u8]) -> Option<Entry> {
        // Split on the byte: every request with a fetched token reads this record.
        let mut fields = bytes.splitn(9, |&b| b == b'|');
        if fields.next()? != VERSION.as_bytes() {
            return None;
        }
        let mut number = || {
            std::str::from_utf8(fields.next()?)
                .ok()?
                .parse::<u64>()
                .ok()
        };
        let generation = number()?;
        let expires_at_ms = number()?;
        let lease_until_ms = number()?;
        let failures = u32::try_from(number()?).ok()?;
        let failed_at_ms = number()?;
        let retry_at_ms = number()?;
        let mut text = || {
            let field = std::str::from_utf8(fields.next()?).ok()?;
            Some((!field.is_empty()).then(|| field.to_string()))
        };
        let last_error = text()?;
        let token = text()?;
        Some(Entry {
            token,
            generation,
            expires_at_ms,
            lease_until_ms,
            failures,
            failed_at_ms,
            retry_at_ms,
            last_error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let e = Entry {
            token: Some("ya29.x-y_z".into()),
            generation: 3,
            expires_at_ms: 1_700_000_000_000,
            lease_until_ms: 5,
            failures: 2,
            failed_at_ms: 8,
            retry_at_ms: 9,
            last_error: Some("invalid_grant".into()),
        };
        assert!(Entry::decode(&e.encode()) == Some(e));
        assert!(Entry::decode(&Entry::default().encode()) == Some(Entry::default()));
    }

    #[test]
    fn foreign_bytes_decode_to_nothing() {
        assert!(Entry::decode(b"").is_none());
        assert!(Entry::decode(b"v0|1|2|3|4|5|6||").is_none());
        assert!(Entry::decode(b"v1|x|2|3|4|5|6||").is_none());
        assert!(Entry::decode(&[0xff, 0xfe]).is_none());
    }
}
