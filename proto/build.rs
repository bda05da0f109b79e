//! Compiles the registry's `.proto` files with `protox` (pure Rust), so no system `protoc` is needed,
//! and generates their protobuf-JSON serde implementations with `pbjson-build`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/carbon/registry/v1/registry.proto",
        "proto/carbon/registry/v1/peer.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let descriptors = protox::compile(files, ["proto"])?;
    // Protobuf's JSON mapping (enum names, base64 bytes) for `--json` output and tx files.
    let bytes = prost::Message::encode_to_vec(&descriptors);
    pbjson_build::Builder::new()
        .register_descriptors(&bytes)?
        .build(&[".carbon.registry.v1"])?;
    // Server reflection serves these descriptors (node::api::reflection).
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("descriptors.bin"), &bytes)?;
    // The gRPC stubs only with the `grpc` feature: without it the messages are plain prost types
    // and the crate does not depend on tonic (carbon-ledger builds on that).
    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    // Undecodable messages are INVALID_ARGUMENT/MALFORMED, not INTERNAL (src/codec.rs).
    tonic_prost_build::configure()
        .build_client(grpc)
        .build_server(grpc)
        .codec_path("crate::codec::Codec")
        .compile_fds(descriptors)?;
    Ok(())
}
