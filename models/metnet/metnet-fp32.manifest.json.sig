{
 "format": "metsentry-model-sig-v1",
 "key_id": "d915bbad2ed31585",
 "manifest_sha256": "dbc055e972b55603015fa04d6302c1dd3fc6050cb0168acc33a6b7643b5e1b76",
 "model_sha256": "e1790ee20fcc1af9293c007223de1a6ead452a2c7f7aa88b74a7fc6c68118a82",
 "files": {
  "ref-fp32.f32": "b1f15d00b3448bec07d8d6db96fa8b62edda1889ef5a3eed555f847dbb1afe42",
  "ref-input.f32": "b1681fb9cae505c261ce42c1d1484ac678c3d070b84c004df2846b83a30147eb"
 },
 "signature": "FnAKx8ywmWUI5sZBIlAS/2Yv3y/IiWo5b2pagQQESzDtpsHFOZQC99ZhQawMsU3op483i5+cqXAr8MannFETBA=="
}
