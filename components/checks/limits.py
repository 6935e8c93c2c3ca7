"""The limits a sample is checked against (params.yaml `validate:`; ValidateConfig extends this).

Defaults here are the project's defaults, so a caller without settings (a test, a notebook)
checks exactly what the pipeline checks.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MIB = 1024 * 1024


class SampleLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_caption_chars: int = Field(default=1, ge=1)
    max_caption_chars: int = Field(default=300, gt=0)
    # the image as the user supplied it, before any resize
    min_image_side: int = Field(default=8, gt=0)
    max_image_side: int = Field(default=4096, gt=0)
    max_aspect_ratio: float = Field(default=4.0, ge=1.0)  # long side / short side
    # decoded-pixel cap, checked from the header before any decoding (decompression bombs)
    max_image_pixels: int = Field(default=16_777_216, gt=0)
    # a file above this is never read (a 10 GB "image" in a table must not fill the memory)
    max_image_bytes: int = Field(default=64 * MIB, gt=0)
