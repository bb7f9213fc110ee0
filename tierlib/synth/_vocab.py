"""Fixed vocabularies: names, cities, categories, email domains, nicknames.

Kept small and plain so that every generated string is valid UTF-8 and needs no
escaping unless the generator adds noise on purpose.
"""

from __future__ import annotations

# (surname, pinyin), roughly in order of frequency.
SURNAMES = (
    ("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
    ("杨", "yang"), ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"),
    ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"), ("胡", "hu"),
    ("郭", "guo"), ("何", "he"), ("高", "gao"), ("林", "lin"), ("罗", "luo"),
    ("郑", "zheng"), ("梁", "liang"), ("谢", "xie"), ("宋", "song"), ("唐", "tang"),
    ("许", "xu"), ("韩", "han"), ("冯", "feng"), ("邓", "deng"), ("曹", "cao"),
)  # fmt: skip

GIVEN = (
    ("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("敏", "min"), ("静", "jing"),
    ("丽", "li"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"), ("洋", "yang"),
    ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("娟", "juan"), ("涛", "tao"),
    ("明", "ming"), ("超", "chao"), ("秀", "xiu"), ("霞", "xia"), ("平", "ping"),
    ("刚", "gang"), ("桂", "gui"), ("英", "ying"), ("华", "hua"), ("玉", "yu"),
    ("萍", "ping"), ("红", "hong"), ("娥", "e"), ("玲", "ling"), ("鹏", "peng"),
    ("辉", "hui"), ("婷", "ting"), ("雪", "xue"), ("琳", "lin"), ("浩", "hao"),
    ("宇", "yu"), ("欣", "xin"), ("怡", "yi"), ("梓", "zi"), ("涵", "han"),
    ("晨", "chen"), ("子", "zi"), ("佳", "jia"), ("嘉", "jia"), ("思", "si"),
    ("雨", "yu"), ("轩", "xuan"), ("博", "bo"), ("文", "wen"), ("俊", "jun"),
)  # fmt: skip

# (city, relative weight): big cities dominate a retailer's membership.
CITIES = (
    ("上海", 14), ("北京", 12), ("广州", 9), ("深圳", 9), ("杭州", 7), ("成都", 7),
    ("南京", 5), ("武汉", 5), ("重庆", 5), ("西安", 4), ("苏州", 4), ("天津", 4),
    ("长沙", 3), ("郑州", 3), ("青岛", 3), ("厦门", 2), ("宁波", 2), ("合肥", 2),
    ("昆明", 2), ("大连", 2),
)  # fmt: skip

CATEGORIES = ("apparel", "shoes", "beauty", "home", "food", "electronics", "kids", "sports")
CATEGORY_WEIGHTS = (0.22, 0.12, 0.16, 0.12, 0.14, 0.08, 0.08, 0.08)
# How a store clerk on a GBK terminal would type the category: source of bad_encoding rows.
CATEGORIES_ZH = ("服装", "鞋履", "美妆", "家居", "食品", "数码", "母婴", "运动")

EMAIL_DOMAINS = ("163.com", "126.com", "gmail.com", "sina.com", "outlook.com", "foxmail.com")

NICK_WORDS = (
    "小", "阿", "大", "爱吃鱼的", "快乐", "追风", "安静的", "momo", "lucky", "sunny",
    "Coco", "Kiki", "Leo", "Amy", "Tony", "夏天", "橘子", "奶茶", "木木", "糖糖",
    "Amy, ", '"K"',  # a comma and quotes: CSV must quote, JSON must escape
)  # fmt: skip
NICK_SUFFIXES = ("", "", "", "🌸", "✨", "~", "_", "😊", "丫", "酱")

PLATFORMS = ("TMALL", "JD", "DOUYIN")
PLATFORM_WEIGHTS = (0.55, 0.3, 0.15)
PLATFORM_SHOPS = ("TM-FLAGSHIP", "JD-SELF", "DY-OFFICIAL")

EVENT_WEIGHTS = (0.62, 0.14, 0.1, 0.05, 0.09)  # view, share, review, invite, post

PLACEHOLDER_PHONES = ("13800000000",)

# Phone prefixes (first three digits) of mainland mobile numbers.
PHONE_PREFIXES = (
    130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155,
    156, 157, 158, 159, 166, 176, 177, 178, 180, 181, 182, 183, 185, 186, 187,
    188, 189, 191, 198, 199,
)  # fmt: skip
