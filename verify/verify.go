// Package verify proves that a container works with a smaller capability
// set: it runs the container through the Docker Engine API with
// --cap-drop=ALL and only the candidate set added, keeping the rest of its
// configuration, judges the run with a check the user chose (exit code, a
// command inside it, an HTTP or TCP probe, or still running after a while),
// and can shrink the set by delta debugging until every capability left is
// proven necessary. It removes every container it starts.
package verify
