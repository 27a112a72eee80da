//! Doudi's protobuf contracts, generated at build time from `proto/doudi/**`.
//!
//! Every message has prost (binary) and serde (canonical proto3 JSON: lowerCamelCase names,
//! int64 as strings on output and either form on input, enum names) implementations.

/// The encoded `FileDescriptorSet` of every Doudi proto, for gRPC reflection.
pub mod convert;
mod masked_debug;

pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/doudi_descriptor.bin"));

pub mod eligibility {
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic, missing_docs)]
        include!(concat!(env!("OUT_DIR"), "/doudi.eligibility.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/doudi.eligibility.v1.serde.rs"));
    }
}

pub mod settlement {
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic, missing_docs)]
        include!(concat!(env!("OUT_DIR"), "/doudi.settlement.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/doudi.settlement.v1.serde.rs"));
    }
}

pub mod hospital {
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic, missing_docs)]
        include!(concat!(env!("OUT_DIR"), "/doudi.hospital.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/doudi.hospital.v1.serde.rs"));
    }
}

pub mod payment {
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic, missing_docs)]
        include!(concat!(env!("OUT_DIR"), "/doudi.payment.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/doudi.payment.v1.serde.rs"));
    }
}

pub mod relief {
    pub mod v1 {
        #![allow(clippy::all, clippy::pedantic, missing_docs)]
        include!(concat!(env!("OUT_DIR"), "/doudi.relief.v1.rs"));
        include!(concat!(env!("OUT_DIR"), "/doudi.relief.v1.serde.rs"));
    }
}
