use super::*;
use crate::config::Config;
use serde_json::json;

/// Hand-built wire bytes: a length-delimited field (lengths here stay below 128).
fn len_field(field: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![field << 3 | 2, bytes.len() as u8];
    out.extend_from_slice(bytes);
    out
}

/// A Struct entry `key: value`, with `value` the bytes of a Value message.
fn entry(key: &str, value: &[u8]) -> Vec<u8> {
    len_field(
        1,
        &[len_field(1, key.as_bytes()), len_field(2, value)].concat(),
    )
}

fn refused(bytes: &[u8]) -> ConfigError {
    match decode(bytes) {
        Ok(value) => panic!("decoded to {value}"),
        Err(e) => e,
    }
}

#[test]
fn a_string_entry_decodes_from_its_wire_bytes() {
    // {"a": "b"}: entry (0a 08), key (0a 01 'a'), value (12 03) holding string_value (1a 01 'b').
    let bytes = [0x0a, 0x08, 0x0a, 0x01, b'a', 0x12, 0x03, 0x1a, 0x01, b'b'];
    assert_eq!(decode(&bytes).unwrap(), json!({"a": "b"}));
}

#[test]
fn every_kind_of_value_decodes_from_hand_built_bytes() {
    let number = |n: f64| [&[0x11][..], &n.to_le_bytes()].concat();
    let bytes = [
        entry("null", &[0x08, 0x00]),
        entry("whole", &number(1500.0)),
        entry("negative", &number(-3.0)),
        entry("fraction", &number(1.5)),
        entry("string", &len_field(3, b"x")),
        entry("true", &[0x20, 0x01]),
        entry("false", &[0x20, 0x00]),
        entry("struct", &len_field(5, &entry("k", &len_field(3, b"v")))),
        entry(
            "list",
            &len_field(
                6,
                &[
                    len_field(1, &len_field(3, b"a")),
                    len_field(1, &[0x20, 0x01]),
                ]
                .concat(),
            ),
        ),
        entry("empty_list", &len_field(6, &[])),
        entry("empty_struct", &len_field(5, &[])),
    ]
    .concat();
    let value = decode(&bytes).unwrap();
    assert_eq!(
        value,
        json!({
            "null": null, "whole": 1500, "negative": -3, "fraction": 1.5, "string": "x",
            "true": true, "false": false, "struct": {"k": "v"}, "list": ["a", true],
            "empty_list": [], "empty_struct": {},
        })
    );
    // A whole double is the integer JSON text would give, not a float.
    assert!(value["whole"].is_u64() && value["negative"].is_i64());
}

#[test]
fn unknown_fields_are_skipped_and_the_last_kind_counts() {
    // Field 9 of each wire type in the Struct, the entry and the Value; two kinds in one Value.
    let unknown = [
        &[0x48, 0x01][..],
        &[0x49, 0, 0, 0, 0, 0, 0, 0, 0],
        &[0x4a, 0x01, b'z'],
        &[0x4d, 0, 0, 0, 0],
    ]
    .concat();
    let value = [&unknown[..], &len_field(3, b"first"), &[0x20, 0x01]].concat();
    let entry = len_field(
        1,
        &[&unknown[..], &len_field(2, &value), &len_field(1, b"k")].concat(),
    );
    let bytes = [entry, unknown].concat();
    assert_eq!(decode(&bytes).unwrap(), json!({"k": true}));
}

#[test]
fn encode_is_the_inverse_of_decode() {
    let config = json!({
        "vertex_project": "proj-alpha",
        "credentials": {"default": {"type": "service_account", "key_env": "VERTEX_SA_KEY"}},
        "model_list": [{"model_name": "flash", "litellm_params": {"model": "gemini-2.5-flash", "use_in_pass_through": true}, "model_info": null}],
        "api_keys": ["sk-1", "sha256:".to_string() + &"ab".repeat(32)],
        "token_fetch_timeout_ms": 1500,
        "ratio": -0.25,
        "unicode": "Ünïcödé ✓ \u{0}",
    });
    let object = config.as_object().unwrap();
    assert_eq!(decode(&encode(object)).unwrap(), config);
}

#[test]
fn an_empty_struct_is_an_empty_object() {
    assert_eq!(decode(&[]).unwrap(), json!({}));
}

#[test]
fn every_truncation_is_refused_or_ends_at_an_entry() {
    let config =
        json!({"model_list": [{"model_name": "a", "litellm_params": {"model": "m"}}], "n": 1.5});
    let bytes = encode(config.as_object().unwrap());
    for cut in 0..bytes.len() {
        let prefix = &bytes[..cut];
        match decode(prefix) {
            // Only at the boundary before the second entry does a prefix decode.
            Ok(value) => assert_eq!(value.as_object().unwrap().len(), usize::from(cut > 0)),
            Err(e) => assert!(
                e.reason.starts_with("not a valid google.protobuf.Struct: "),
                "{e}"
            ),
        }
    }
}

#[test]
fn malformed_wire_data_is_refused_with_the_reason() {
    let cases: [(&[u8], &str); 10] = [
        (&[0x0a, 0x05, 0x0a], "truncated"),
        (&[0x0a], "truncated"),
        (&[0x0a, 0xff], "truncated"),
        (
            &[
                0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ],
            "longer than 64 bits",
        ),
        (
            &[
                0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x01,
            ],
            "longer than 10 bytes",
        ),
        (&[0x08, 0x01], "field 1 has wire type 0, expected 2"),
        (&[0x03], "field number 0"),
        (&[0x0b], "wire type 3"),
        (&[0x0a, 0x02, 0x0a, 0x00], "a value with no kind set"),
        (&[0x0a, 0x04, 0x12, 0x02, 0x48, 0x00], "no kind set"),
    ];
    for (bytes, reason) in cases {
        let e = refused(bytes);
        assert!(e.reason.contains(reason), "{bytes:02x?}: {e}");
    }
    let e = refused(&entry("k", &len_field(3, &[0xff, 0xfe])));
    assert_eq!(e.field, "k");
    assert!(e.reason.ends_with("a string that is not UTF-8"), "{e}");
    let e = refused(&entry(
        "k",
        &[&[0x11][..], &f64::NAN.to_le_bytes()].concat(),
    ));
    assert!(e.reason.ends_with("a number that is not finite"), "{e}");
    let e = refused(&[entry("k", &[0x08, 0x00]), entry("k", &[0x20, 0x01])].concat());
    assert_eq!(e.field, "k");
    assert!(e.reason.ends_with("the key is given twice"), "{e}");
}

#[test]
fn an_error_names_the_field_it_is_in() {
    let params = len_field(5, &entry("model", &len_field(3, &[0xc3])));
    let item = len_field(5, &entry("litellm_params", &params));
    let list = len_field(
        6,
        &[len_field(1, &len_field(5, &[])), len_field(1, &item)].concat(),
    );
    let e = refused(&entry("model_list", &list));
    assert_eq!(e.field, "model_list[1].litellm_params.model", "{e}");
    // A key that does not look like a name is given by its length, as for JSON.
    let e = refused(&entry("-----BEGIN PRIVATE KEY-----\nMIIE", &[]));
    assert_eq!(e.field, "(a key of 32 characters)", "{e}");
}

/// `levels` lists inside one another under the key "a", built without recursion.
fn nested_lists(levels: usize) -> Vec<u8> {
    let mut value = vec![0x20, 0x01];
    for _ in 0..levels {
        let mut list = vec![0x0a];
        put_varint(&mut list, value.len() as u64);
        list.extend_from_slice(&value);
        value = vec![0x32];
        put_varint(&mut value, list.len() as u64);
        value.extend_from_slice(&list);
    }
    let mut bytes = Vec::new();
    let mut item = len_field(1, b"a");
    put_len(&mut item, 2, &value);
    put_len(&mut bytes, 1, &item);
    bytes
}

#[test]
fn nesting_is_bounded() {
    // The top-level Struct is the first level.
    assert!(decode(&nested_lists(MAX_DEPTH - 1)).is_ok());
    let e = refused(&nested_lists(MAX_DEPTH));
    assert!(
        e.reason.ends_with("nested more than 100 levels deep"),
        "{e}"
    );
    assert!(e.field.starts_with("a[0][0]"), "{e}");
    let e = refused(&nested_lists(20_000));
    assert!(
        e.reason.ends_with("nested more than 100 levels deep"),
        "{e}"
    );
}

#[test]
fn a_length_past_the_end_allocates_nothing_and_is_refused() {
    // A length of 2^62 bytes in a few bytes of input.
    let mut bytes = vec![0x0a];
    put_varint(&mut bytes, 1 << 62);
    assert!(refused(&bytes).reason.ends_with("truncated"));
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn outcome(bytes: &[u8]) -> String {
    crate::config::properties::outcome(bytes, &no_env)
}

fn as_struct(config: &serde_json::Value) -> Vec<u8> {
    encode(config.as_object().unwrap())
}

#[test]
fn a_struct_loads_as_the_same_json_text_does() {
    let loaded = json!({
        "vertex_project": "proj-alpha",
        "credentials": {"default": {"type": "access_token", "token": "ya29.x"}},
        "model_list": [{"model_name": "flash", "litellm_params": {"model": "vertex_ai/gemini-2.5-flash", "vertex_location": "global"}}],
        "api_keys": ["sk-test"],
        "route_prefixes": ["/v"],
        "token_refresh_margin_s": 60,
        "token_fetch_timeout_ms": 1500,
    });
    let mut refused = loaded.clone();
    refused["model_list"][0]["litellm_params"]["vertex_location"] = json!("Europe West");
    let mut unknown = loaded.clone();
    unknown["vertex_regoin"] = json!("x");
    let mut no_keys = loaded.clone();
    no_keys.as_object_mut().unwrap().remove("api_keys");
    for config in [loaded, refused, unknown, no_keys] {
        let json = outcome(config.to_string().as_bytes());
        assert_eq!(outcome(&as_struct(&config)), json);
    }
    assert!(!outcome(&as_struct(
        &json!({"api_keys": ["k"], "allow_unauthenticated": false})
    ))
    .starts_with("refused"));
}

#[test]
fn integer_fields_take_whole_doubles_and_refuse_fractions_by_name() {
    let config = |timeout: f64| {
        let object = json!({"allow_unauthenticated": true, "credentials": {"default": {"type": "access_token", "token": "t"}}});
        let mut bytes = as_struct(&object);
        bytes.extend(entry(
            "token_fetch_timeout_ms",
            &[&[0x11][..], &timeout.to_le_bytes()].concat(),
        ));
        bytes
    };
    match Config::load(&config(1500.0), &no_env) {
        Ok(c) => assert_eq!(c.token_fetch_timeout_ms, 1500),
        Err(e) => panic!("{e}"),
    }
    let e = match Config::load(&config(1500.5), &no_env) {
        Ok(_) => panic!("1500.5 loaded"),
        Err(e) => e,
    };
    assert_eq!(e.field, "token_fetch_timeout_ms");
    assert_eq!(
        e.reason,
        "invalid type: floating point given, expected a whole number, 0 or more"
    );
    let e = match Config::load(&config(-1.0), &no_env) {
        Ok(_) => panic!("-1 loaded"),
        Err(e) => e,
    };
    assert_eq!(e.field, "token_fetch_timeout_ms");
}

#[test]
fn the_form_is_told_by_the_first_bytes() {
    let config = json!({"allow_unauthenticated": true, "credentials": {"default": {"type": "access_token", "token": "t"}}});
    // JSON after whitespace, a newline (the Struct's tag byte) included.
    let json = format!("\n \t{config}");
    assert!(Config::load(json.as_bytes(), &no_env).is_ok());
    assert!(Config::load(&as_struct(&config), &no_env).is_ok());
    let error = |bytes: &[u8]| match Config::load(bytes, &no_env) {
        Ok(_) => panic!("{bytes:?} loaded"),
        Err(e) => e,
    };
    let e = error(b"");
    assert_eq!(e.field, "(top level)");
    assert!(
        e.reason.starts_with("the plugin configuration is empty"),
        "{e}"
    );
    for neither in [&b"[1]"[..], b"vertex_project: x", &[0x12, 0x00], b"  "] {
        let e = error(neither);
        assert_eq!(e.field, "(top level)");
        assert!(
            e.reason.contains("JSON object") && e.reason.contains("google.protobuf.Struct"),
            "{e}"
        );
    }
    // A Struct whose first entry is 123 bytes long begins with "\n{", like JSON text.
    let first = entry("vertex_project", &len_field(3, "A".repeat(103).as_bytes()));
    assert_eq!(&first[..2], b"\n{");
    let e = error(&[first, as_struct(&config)].concat());
    assert_eq!(e.field, "vertex_project", "{e}");
    assert!(e.reason.contains("is not valid"), "{e}");
    // Each form's error says which form it was read as.
    assert!(error(b"{\"api_keys\": [")
        .reason
        .starts_with("not valid JSON"));
    assert!(error(&[0x0a, 0x09])
        .reason
        .starts_with("not a valid google.protobuf.Struct"));
}
