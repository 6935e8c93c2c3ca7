"""The `clip-pipeline` command: the top floor, above flows/, infra/ and components/."""
