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
    tonic_prost_build::configure().compile_fds(descriptors)?;
    Ok(())
}
