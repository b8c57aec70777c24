{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "4bd9a91abf253bb96e1f7fc237ab794aa7bf75e084e15a95e86b1b18877d2ad2",
 "model_sha256": "6b2515f73ebc509b95ebb912a1b280ff01c037a69e6e34664c017a385245bcf9",
 "files": {
  "ref-fp32.f32": "afc6e04be3e6b6163f475b127fdd182211f09bf8d8b1c512a8673eb84e62bda1",
  "ref-input.f32": "dbad966648c989e75208dd9ecfc65b5a62849a4bfab53a37cc58ee9375cffd43"
 },
 "signature": "GbOV3mdUbTt5SfpjuPBrlJIX9FHT37U4Fd9dGxdWwYVSTVGcFTrYal537i940bMCvTbdvdhjstkwfu8YgM+1CQ=="
}
