"""Built-in synthetic faces with 18 binary attributes ("synthetic_attributes").

A stand-in for CelebA's images + 18 attributes (the MVAE test bed, seed 000
section III.B.2) that needs no files: the videos of ``synthetic_expressions``
(same flags, same pixels), each with a vector ``attributes`` (float32 [18],
0 or 1) delivered through ``VideoSource.extras``. The attributes are derived
deterministically from the video's identity (hair style, hair colour, skin
tone, iris colour) and expression (``ATTRIBUTE_NAMES``); expressions reach
their apex at the end of a video, so the expression bits describe the video,
not every frame.
"""
from __future__ import annotations

import numpy as np

from tfvidgen import registry
from tfvidgen.data import synthetic_expressions as se
from tfvidgen.data.config import DataConfig

HAIR_COLOURS = ("black_hair", "dark_brown_hair", "brown_hair", "blond_hair", "red_hair",
                "gray_hair")
ATTRIBUTE_NAMES = (tuple(f"{s}_hair_style" for s in se.HAIR_STYLES) + HAIR_COLOURS
                   + ("pale_skin", "dark_skin", "blue_eyes", "green_eyes", "smiling",
                      "mouth_open", "frowning"))
assert len(ATTRIBUTE_NAMES) == 18


def _nearest(colour, palette) -> int:
    return int(np.argmin(np.abs(np.asarray(palette, float) - colour).sum(axis=1)))


class SyntheticAttributes(se.SyntheticExpressions):
    """``SyntheticExpressions`` with an ``attributes`` extra (``ATTRIBUTE_NAMES``)."""

    name = "synthetic_attributes"
    attribute_names = ATTRIBUTE_NAMES

    def extra_specs(self):
        return {"attributes": (np.dtype(np.float32), (len(ATTRIBUTE_NAMES),))}

    def attributes(self, index: int) -> np.ndarray:
        """float32 [18] of 0/1: video ``index``'s attributes."""
        ident, expr, _ = self._key(index)
        person = self._person(ident)
        bits = np.zeros(len(ATTRIBUTE_NAMES), np.float32)
        bits[se.HAIR_STYLES.index(person.style)] = 1
        offset = len(se.HAIR_STYLES)
        bits[offset + _nearest(person.palette[se.HAIR], se._HAIR)] = 1
        offset += len(HAIR_COLOURS)
        skin = _nearest(person.palette[se.SKIN], se._SKIN)
        bits[offset] = skin <= 1
        bits[offset + 1] = skin >= 4
        iris = _nearest(person.palette[se.IRIS], se._IRIS)
        bits[offset + 2] = iris == 1
        bits[offset + 3] = iris == 2
        expression = se.CLASS_NAMES[expr]
        bits[offset + 4] = expression == "happiness"
        bits[offset + 5] = expression in ("surprise", "fear", "happiness")
        bits[offset + 6] = expression in ("anger", "sadness", "disgust")
        return bits

    def extras(self, index):
        return {"attributes": self.attributes(index)}


@registry.register_dataset("synthetic_attributes")
def build(config: DataConfig) -> SyntheticAttributes:
    """The built-in synthetic faces with attributes, from the data flags."""
    return SyntheticAttributes(
        image_size=config.image_size, split=config.split, seed=config.seed,
        num_identities=config.num_identities, num_takes=config.num_takes,
        video_length=config.video_length, cache=config.cache)
