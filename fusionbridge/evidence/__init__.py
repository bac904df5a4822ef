"""Evidence a certificate verifier asks for: raw upstream bytes, hashes, bundles and exports."""
