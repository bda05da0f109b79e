//! gRPC server reflection (tonic-reflection, protocols v1 and v1alpha) on the client address,
//! from the descriptors `protox` builds for `carbon-proto`: `grpcurl list` and friends see the
//! `Registry` service and the health service. The peer service is not advertised (it is not on
//! this address).

use tonic_reflection::server::Builder;

/// The services advertised on the client address.
pub const ADVERTISED: [&str; 2] = ["carbon.registry.v1.Registry", "grpc.health.v1.Health"];

fn builder() -> Builder<'static> {
    let b = Builder::configure()
        .register_encoded_file_descriptor_set(carbon_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    ADVERTISED.iter().fold(b, |b, s| b.with_service_name(*s))
}

/// Both protocol versions' services (the descriptors are the crate's own: they always decode).
pub fn services() -> anyhow::Result<(
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
)> {
    Ok((builder().build_v1()?, builder().build_v1alpha()?))
}
