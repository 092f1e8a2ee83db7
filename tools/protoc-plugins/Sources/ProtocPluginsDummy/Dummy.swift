// Intentionally empty: the helper package only builds the protoc plugin
// products of its dependencies. See tools/generate-protos.sh.
