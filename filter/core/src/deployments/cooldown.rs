//! An alias's cooldowns in shared data, one entry for every worker of the process: when each
//! deployment's cooldown ends, in milliseconds since the Unix epoch (0: none), 8 bytes each.

/// The entry's bytes.
pub fn encode(until_ms: &[u64]) -> Vec<u8> {
    until_ms.iter().flat_map(|u| u.to_le_bytes()).collect()
}

/// The entry for `deployments` deployments; none cooling when it is missing or was written for
/// another number of deployments (a configuration since replaced).
pub fn decode(bytes: Option<&[u8]>, deployments: usize) -> Vec<u64> {
    match bytes {
        Some(bytes) if bytes.len() == deployments * 8 => bytes
            .chunks_exact(8)
            .map(|chunk| {
                let mut word = [0u8; 8];
                word.copy_from_slice(chunk);
                u64::from_le_bytes(word)
            })
            .collect(),
        _ => vec![0; deployments],
    }
}

/// The deployment that serves when all are cooling down: the one whose cooldown ends first.
pub fn first_to_recover(until_ms: &[u64]) -> usize {
    until_ms
        .iter()
        .enumerate()
        .min_by_key(|(_, until)| **until)
        .map_or(0, |(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_round_trips_and_a_foreign_one_reads_as_no_cooldown() {
        let entry = encode(&[0, 1_700_000_030_000]);
        assert_eq!(decode(Some(&entry), 2), [0, 1_700_000_030_000]);
        assert_eq!(decode(Some(&entry), 3), [0, 0, 0]);
        assert_eq!(decode(None, 2), [0, 0]);
    }

    #[test]
    fn the_first_cooldown_to_end_is_the_one_used() {
        assert_eq!(first_to_recover(&[30, 10, 20]), 1);
    }
}
