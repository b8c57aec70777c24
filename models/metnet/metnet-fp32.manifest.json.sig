{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "3fd5d1bc2e5707c7b21b82e5300ebb54f903152e5b25925d089f7b13a3891c57",
 "model_sha256": "e1790ee20fcc1af9293c007223de1a6ead452a2c7f7aa88b74a7fc6c68118a82",
 "files": {
  "ref-fp32.f32": "b1f15d00b3448bec07d8d6db96fa8b62edda1889ef5a3eed555f847dbb1afe42",
  "ref-input.f32": "b1681fb9cae505c261ce42c1d1484ac678c3d070b84c004df2846b83a30147eb"
 },
 "signature": "u+UeS3OsO+uBbD8qFNsutmKzAftDBKkYR/6nL4HmweWsfw7VpROgvo4+WAq31h7fSvQRQnQ3B4mzn4+MWFGQAg=="
}
