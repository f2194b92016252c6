//! Prints the RewindSource CRD (`manifests/flux/crd.yaml` is this output).

fn main() {
    print!("{}", rewind::flux::crd_yaml());
}
