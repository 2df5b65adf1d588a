//! A Live model name as a client writes it, in the upgrade's `?model=` or in `setup.model`:
//! `M`, `models/M`, `publishers/PUB/models/M` or `projects/P/locations/L/publishers/PUB/models/M`.
//! Aliases are looked up by the callers; this is the one parser of the names' forms.

use crate::segment::{is_valid_location, is_valid_project, is_valid_publisher_or_model};

/// What a model name names, before aliases and defaults fill in the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelName<'a> {
    /// Given with `location`, in the full form only.
    pub project: Option<&'a str>,
    pub location: Option<&'a str>,
    pub publisher: Option<&'a str>,
    pub model: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelNameError {
    /// None of the four forms.
    UnknownForm,
    /// One of the forms, with a segment outside its characters.
    InvalidSegment,
}

pub fn parse(name: &str) -> Result<ModelName<'_>, ModelNameError> {
    let mut parts = [""; 8];
    let mut count = 0;
    for part in name.split('/') {
        let Some(slot) = parts.get_mut(count) else {
            return Err(ModelNameError::UnknownForm);
        };
        *slot = part;
        count += 1;
    }
    let named = match parts.get(..count).unwrap_or_default() {
        [model] | ["models", model] => ModelName {
            project: None,
            location: None,
            publisher: None,
            model,
        },
        ["publishers", publisher, "models", model] => ModelName {
            project: None,
            location: None,
            publisher: Some(publisher),
            model,
        },
        ["projects", project, "locations", location, "publishers", publisher, "models", model] => {
            ModelName {
                project: Some(project),
                location: Some(location),
                publisher: Some(publisher),
                model,
            }
        }
        _ => return Err(ModelNameError::UnknownForm),
    };
    let valid = is_valid_publisher_or_model(named.model)
        && named.publisher.is_none_or(is_valid_publisher_or_model)
        && named.project.is_none_or(is_valid_project)
        && named.location.is_none_or(is_valid_location);
    if valid {
        Ok(named)
    } else {
        Err(ModelNameError::InvalidSegment)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name<'a>(
        project: Option<&'a str>,
        location: Option<&'a str>,
        publisher: Option<&'a str>,
        model: &'a str,
    ) -> ModelName<'a> {
        ModelName {
            project,
            location,
            publisher,
            model,
        }
    }

    #[test]
    fn a_bare_model_id_names_only_the_model() {
        assert_eq!(
            parse("gemini-2.0-flash"),
            Ok(name(None, None, None, "gemini-2.0-flash"))
        );
    }

    #[test]
    fn a_models_prefix_names_only_the_model() {
        assert_eq!(parse("models/m-1"), Ok(name(None, None, None, "m-1")));
    }

    #[test]
    fn a_publisher_form_names_publisher_and_model() {
        assert_eq!(
            parse("publishers/meta/models/llama"),
            Ok(name(None, None, Some("meta"), "llama"))
        );
    }

    #[test]
    fn the_full_form_names_every_part() {
        assert_eq!(
            parse("projects/p-1/locations/us-east1/publishers/google/models/m"),
            Ok(name(Some("p-1"), Some("us-east1"), Some("google"), "m"))
        );
    }

    #[test]
    fn other_shapes_are_an_unknown_form() {
        for bad in [
            "a/b",
            "publishers/x/models",
            "projects/p/locations/l/models/m",
            "projects/p/locations/l/publishers/g/models/m/extra",
            "a/b/c/d/e/f/g/h/i/j",
        ] {
            assert_eq!(parse(bad), Err(ModelNameError::UnknownForm), "{bad}");
        }
    }

    #[test]
    fn a_segment_outside_its_characters_is_invalid() {
        for bad in [
            "",
            "..",
            "gemini%2f",
            "publishers/a b/models/m",
            "projects/P/locations/l/publishers/g/models/m",
            "projects/p/locations/l_1/publishers/g/models/m",
        ] {
            assert_eq!(parse(bad), Err(ModelNameError::InvalidSegment), "{bad}");
        }
    }
}
