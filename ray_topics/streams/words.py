"""Vocabularies of the synthetic streams: topic words, filler words every topic shares, noise words."""

from __future__ import annotations

__all__ = ["FILLER_WORDS", "NOISE_WORDS", "WORD_BANK"]

#: Distinct, common English nouns (none is a scikit-learn English stop word); topics
#: without explicit ``words`` draw disjoint vocabularies from it.
# fmt: off
WORD_BANK: tuple[str, ...] = (
    "anchor", "anvil", "apple", "apricot", "archer", "arrow", "avalanche", "avocado",
    "badger", "bagel", "bakery", "balcony", "bamboo", "banana", "banjo", "banner", "barley",
    "barrel", "basket", "beacon", "beaver", "beetle", "bicycle", "biscuit", "blanket",
    "blizzard", "blossom", "boulder", "bracelet", "bramble", "brick", "bridge", "broccoli",
    "brook", "bucket", "buffalo", "bugle", "cabbage", "cabin", "cactus", "camel",
    "campfire", "canal", "candle", "canoe", "canyon", "caravan", "cardinal", "carpet",
    "carrot", "castle", "caterpillar", "cathedral", "cavern", "cedar", "cellar", "chalk",
    "chariot", "cheetah", "cherry", "chestnut", "chimney", "chisel", "cinnamon", "citadel",
    "clover", "cobra", "coconut", "comet", "compass", "copper", "coral", "cottage",
    "cougar", "coyote", "crane", "crater", "crayon", "cricket", "crocodile", "crystal",
    "cucumber", "cupboard", "dagger", "daisy", "dolphin", "donkey", "dragon", "dragonfly",
    "drum", "eagle", "easel", "eclipse", "eggplant", "elephant", "elk", "ember", "emerald",
    "falcon", "feather", "fence", "ferret", "fiddle", "fig", "flamingo", "flute", "forge",
    "fossil", "fountain", "fox", "garlic", "gazelle", "geyser", "ginger", "giraffe",
    "glacier", "goblet", "goose", "gorilla", "granite", "grape", "grasshopper", "gravel",
    "guitar", "hammer", "hammock", "harbor", "harp", "hatchet", "hazelnut", "hedgehog",
    "helmet", "heron", "hippo", "honey", "hornet", "horseshoe", "hurricane", "iceberg",
    "igloo", "iguana", "ivory", "jackal", "jaguar", "jasmine", "jellyfish", "jigsaw",
    "juniper", "kangaroo", "kayak", "kettle", "kiwi", "koala", "ladder", "ladle", "lagoon",
    "lantern", "lava", "lemon", "lemur", "leopard", "lettuce", "lighthouse", "lilac",
    "lime", "lizard", "llama", "lobster", "locomotive", "lotus", "lynx", "magnet", "magpie",
    "mango", "mantis", "maple", "marble", "marsh", "meadow", "melon", "meteor", "mint",
    "mitten", "mole", "monsoon", "moose", "mosaic", "moth", "mushroom", "mustard", "nectar",
    "nutmeg", "oak", "oasis", "octopus", "olive", "onion", "orchard", "orchid", "ostrich",
    "otter", "owl", "oyster", "paddle", "panther", "papaya", "parrot", "peach", "peacock",
    "peanut", "pebble", "pelican", "pencil", "penguin", "pepper", "pheasant", "piano",
    "pickle", "pigeon", "pineapple", "pistachio", "plum", "pony", "poppy", "porcupine",
    "potato", "pottery", "pumpkin", "puzzle", "python", "quartz", "quill", "rabbit",
    "raccoon", "radish", "raft", "raisin", "raven", "reef", "rhino", "ribbon", "river",
    "robin", "rocket", "saddle", "saffron", "salmon", "sapphire", "sardine", "scarecrow",
    "scorpion", "seagull", "seahorse", "sequoia", "shovel", "shrimp", "sickle", "skunk",
    "sled", "sloth", "snail", "sparrow", "spinach", "sponge", "squirrel", "stallion",
    "starfish", "stork", "strawberry", "submarine", "sunflower", "swan", "sycamore",
    "tadpole", "tambourine", "tangerine", "teapot", "telescope", "thistle", "thunder",
    "tiger", "toad", "tomato", "tornado", "tortoise", "toucan", "trombone", "trumpet",
    "tulip", "tundra", "turnip", "turtle", "tusk", "umbrella", "unicorn", "valley",
    "vanilla", "velvet", "violin", "volcano", "vulture", "waffle", "walnut", "walrus",
    "wasp", "waterfall", "weasel", "whale", "wheat", "whistle", "willow", "windmill",
    "wizard", "wolf", "woodpecker", "yak", "zebra", "zucchini", "acorn", "albatross",
    "alligator", "almond", "amber", "antelope", "armadillo", "asparagus", "axe", "bagpipe",
    "barnacle", "basil", "beet", "bison", "blueberry", "bobcat", "bonsai", "bronze",
    "buckle", "butterfly", "cabinet", "canary", "cashew", "celery", "chameleon", "cloak",
    "cobalt", "condor", "cranberry", "crow", "cymbal", "dandelion", "denim", "dingo",
    "dove", "elm", "fern", "flint", "gecko", "glove", "gondola", "gourd", "granola",
    "hamster", "hawk", "hyena", "jade", "jester", "kiln", "kite", "lantana", "lichen",
    "mackerel", "mammoth", "marigold", "marlin", "mink", "moss", "mule", "narwhal",
    "nickel", "okra", "opal", "orca", "pagoda", "parsley", "peony", "pewter", "pine",
    "plank", "prism", "puffin", "quail", "quilt", "rattle", "rhubarb", "ruby", "sage",
    "salamander", "scallop", "scooter", "shark", "sorrel", "spruce", "swordfish",
    "tapestry", "tarragon", "thimble", "toboggan", "topaz", "trout", "tuba", "turquoise",
    "viper", "wagon", "weaver", "wren", "yarn", "yogurt", "yeti", "anemone", "baboon",
    "barracuda", "birch", "boar", "buttercup", "catfish", "chipmunk", "cicada", "clam",
    "cod", "cuckoo", "dahlia", "eel", "fawn", "finch", "gull", "halibut", "hornbill",
    "ibis", "kestrel", "ladybug", "lark", "marten", "mussel", "newt", "oriole", "osprey",
    "panda", "partridge", "plover", "quokka", "reindeer", "sandpiper", "shrew", "snipe",
    "starling", "swift", "tapir", "termite", "thrush", "vole", "warbler", "wombat",
)
# fmt: on

#: Generic words mixed into the texts of every topic (c-TF-IDF should discount them).
# fmt: off
FILLER_WORDS: tuple[str, ...] = (
    "video", "today", "new", "best", "watch", "official", "episode", "live", "guide",
    "tips", "review", "update", "highlights", "channel", "ultimate", "easy", "quick",
    "amazing", "first", "time", "full", "tutorial", "explained", "reaction", "moments",
    "week", "challenge", "trying", "finally", "really", "great", "look", "thing", "people",
    "world", "year", "way", "make", "like", "good",
)
# fmt: on

#: Words of noise (misfit) videos: disjoint from :data:`WORD_BANK` and :data:`FILLER_WORDS`.
# fmt: off
NOISE_WORDS: tuple[str, ...] = (
    "vlog", "random", "stuff", "misc", "thoughts", "rant", "chat", "story", "life",
    "morning", "routine", "haul", "storytime", "podcast", "announcement", "mood",
    "compilation", "memories", "diary", "throwback", "ramble", "behind", "scenes",
    "question", "answer", "opinion", "birthday", "holiday", "travel", "family", "friends",
    "weekend", "music", "dance", "prank", "shorts", "clip", "mixed", "various", "unrelated",
)
# fmt: on
