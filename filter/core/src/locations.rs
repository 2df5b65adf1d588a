//! The locations a request may name: every Google Cloud region, Vertex AI's `global` and its
//! multi-regions `us` and `eu`, plus those the plugin config names. A location becomes a host
//! name that Envoy resolves and caches; refusing invented ones keeps clients from filling that
//! cache and starving the real regions.

/// Google Cloud's regions, sorted for binary search, with `global`, `us` and `eu`.
const GOOGLE_CLOUD_LOCATIONS: [&str; 45] = [
    "africa-south1",
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast2",
    "asia-northeast3",
    "asia-south1",
    "asia-south2",
    "asia-southeast1",
    "asia-southeast2",
    "australia-southeast1",
    "australia-southeast2",
    "eu",
    "europe-central2",
    "europe-north1",
    "europe-north2",
    "europe-southwest1",
    "europe-west1",
    "europe-west10",
    "europe-west12",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west8",
    "europe-west9",
    "global",
    "me-central1",
    "me-central2",
    "me-west1",
    "northamerica-northeast1",
    "northamerica-northeast2",
    "northamerica-south1",
    "southamerica-east1",
    "southamerica-west1",
    "us",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-south1",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
];

/// The locations this proxy forwards to.
#[derive(Debug, Default)]
pub struct ServedLocations {
    /// Named by the config and not in the built-in list (a region opened since).
    extra: Vec<String>,
}

impl ServedLocations {
    /// `named`: every location the config names (defaults, aliases, `locations`).
    pub fn new<'a>(named: impl IntoIterator<Item = &'a str>) -> ServedLocations {
        let mut extra: Vec<String> = named
            .into_iter()
            .filter(|l| GOOGLE_CLOUD_LOCATIONS.binary_search(l).is_err())
            .map(str::to_string)
            .collect();
        extra.sort();
        extra.dedup();
        ServedLocations { extra }
    }

    pub fn contains(&self, location: &str) -> bool {
        GOOGLE_CLOUD_LOCATIONS.binary_search(&location).is_ok()
            || self.extra.iter().any(|l| l == location)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_list_is_sorted_and_unique() {
        assert!(GOOGLE_CLOUD_LOCATIONS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn google_cloud_regions_and_the_multi_regions_are_served() {
        let served = ServedLocations::new([]);
        for location in [
            "us-central1",
            "europe-west4",
            "global",
            "us",
            "eu",
            "asia-northeast1",
        ] {
            assert!(served.contains(location), "{location}");
        }
    }

    #[test]
    fn an_invented_location_is_not_served() {
        let served = ServedLocations::new([]);
        assert!(!served.contains("zz-invented-1"));
        assert!(!served.contains("us-central"));
        assert!(!served.contains(""));
    }

    #[test]
    fn a_location_the_config_names_is_served() {
        let served = ServedLocations::new(["mars-north1", "us-central1", "mars-north1"]);
        assert!(served.contains("mars-north1"));
        assert_eq!(served.extra, ["mars-north1"]);
    }
}
