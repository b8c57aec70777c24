{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "085b76db833dc0c88cbae57bcc5783a0592e636eb86418e7efd3e67c65ed355e",
 "model_sha256": "5b492e85797ab06315adcfb12417ed563c957ccacfc16a0187d6ddc4b00b2a53",
 "files": {
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43",
  "ref-int8.f32": "952d15081bbdba0638780c95259cdd9f8f47cd1281434de06ddacbf0704b873f"
 },
 "signature": "4jhIVn1U57d60Q0FEfvtegtDfEM/5rdHTnmXVA+LGdoyFsrauAQNbbnFKcL2UYbgS12RS8Ab1hOdSttM9XhhBg=="
}
