"""The sandbox company's mainland-China world (`ltc sandbox generate --region cn`).

Why it exists: many of the platform's users run their companies in Chinese, and the names their
systems hold are where entity resolution and cash application break first. The CRM types a
customer's legal name one way, the ERP master data another (full-width brackets and digits from a
Chinese input method), and the bank's payer field a third (the legal form cut off, or the English
/ pinyin name the customer registered with its bank). The remittance text is Chinese with the
invoice number in it, sometimes typed in full-width digits. This module holds the pools and those
spellings; `generator.py` asks for them through its `World` (the default world keeps its own
constants, so the default company's files do not change).

Every function draws only from the `random.Random` it is given, in a fixed order, so a seed still
gives byte-identical files.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

# region: (weight, currency, ((country, iso2, weight, vat rate, cities), ...)) - generator.REGIONS' shape.
# Cities carry their province (浙江省杭州市), as Chinese addresses do; municipalities stand alone.
REGIONS = {
    "华东": (0.45, "CNY", (("China", "CN", 1.0, "0.13", (
        "上海市", "浙江省杭州市", "江苏省南京市", "江苏省苏州市", "浙江省宁波市", "安徽省合肥市")),)),
    "华北": (0.25, "CNY", (("China", "CN", 1.0, "0.13", (
        "北京市", "天津市", "山东省济南市", "山东省青岛市", "河北省石家庄市")),)),
    "华南": (0.20, "CNY", (("China", "CN", 1.0, "0.13", (
        "广东省广州市", "广东省深圳市", "福建省厦门市", "福建省福州市", "广东省东莞市")),)),
    # export customers in Hong Kong, billed in USD: the company's one foreign currency
    "港澳": (0.10, "USD", (("Hong Kong", "HK", 1.0, "0.00", ("香港",)),)),
}
HOME_REGION, HOME_CURRENCY = "华东", "CNY"
SIZE_FX = {"CNY": 0.138, "USD": 1.0}  # USD per unit, only to size deals in local currency
FX_LEVELS = {"CNY": 0.138, "USD": 1.0}  # the FX walk's start levels, USD per unit (generator.World)
# A mainland company reports in CNY (`--reporting-currency USD` gives the group-reporting variant)
REPORTING_CURRENCY = "CNY"

USERS = (
    # name (family name first), region, deactivated on (None = active)
    ("王伟", "华东", None), ("李娜", "华东", None), ("张敏", "华东", None), ("刘洋", "华东", dt.date(2025, 10, 31)),
    ("陈静", "华北", None), ("杨磊", "华北", None), ("赵丽", "华北", None),
    ("黄强", "华南", None), ("周杰", "华南", None), ("吴芳", "港澳", None),
)
CAMPAIGNS = (
    # name, type (the Salesforce picklist value, which channel_mapping.csv reads), region, start, end
    ("百度搜索 - 华东", "Paid Search", "华东", "2025-01-06", "2025-12-31"),
    ("百度搜索 - 华北", "Paid Search", "华北", "2025-02-03", "2025-12-31"),
    ("百度搜索 - 华南", "Paid Search", "华南", "2025-03-03", "2025-11-28"),
    ("微信朋友圈广告 - 财务负责人", "Social", "华东", "2025-01-13", "2025-06-30"),
    ("领英 - 香港财务决策人", "Social", "港澳", "2025-05-05", "2025-12-31"),
    ("春季电子报", "Email", None, "2025-03-10", "2025-04-30"),
    ("年末培育邮件", "Email", None, "2025-10-01", "2025-12-19"),
    ("线上研讨会：月结提速", "Webinar", None, "2025-02-12", "2025-03-12"),
    ("线上研讨会：回款预测入门", "Webinar", None, "2025-06-04", "2025-06-25"),
    ("线上研讨会：AI 与订单到回款", "Webinar", None, "2025-10-08", "2025-11-05"),
    ("上海财务数字化峰会", "Trade Show", "华东", "2025-04-22", "2025-04-24"),
    ("深圳 CFO 论坛", "Trade Show", "华南", "2025-09-16", "2025-09-18"),
)

# family name -> pinyin; given name -> pinyin (the e-mail address is pinyin, the Name is Chinese)
FAMILY = {"王": "wang", "李": "li", "张": "zhang", "刘": "liu", "陈": "chen", "杨": "yang", "黄": "huang",
          "赵": "zhao", "吴": "wu", "周": "zhou", "徐": "xu", "孙": "sun", "马": "ma", "朱": "zhu", "胡": "hu",
          "郭": "guo", "何": "he", "林": "lin", "高": "gao", "罗": "luo", "欧阳": "ouyang", "司马": "sima"}
GIVEN = {"伟": "wei", "芳": "fang", "娜": "na", "秀英": "xiuying", "敏": "min", "静": "jing", "丽": "li",
         "强": "qiang", "磊": "lei", "军": "jun", "洋": "yang", "勇": "yong", "艳": "yan", "杰": "jie",
         "娟": "juan", "涛": "tao", "明": "ming", "超": "chao", "秀兰": "xiulan", "霞": "xia", "平": "ping",
         "刚": "gang", "桂英": "guiying", "建华": "jianhua", "志强": "zhiqiang", "晓东": "xiaodong",
         "海燕": "haiyan", "子涵": "zihan", "雨桐": "yutong", "浩然": "haoran"}
USER_PINYIN = {"王伟": "wei.wang", "李娜": "na.li", "张敏": "min.zhang", "刘洋": "yang.liu", "陈静": "jing.chen",
               "杨磊": "lei.yang", "赵丽": "li.zhao", "黄强": "qiang.huang", "周杰": "jie.zhou", "吴芳": "fang.wu"}

# A company name: city + brand (字号) + trade + legal form. Brands with Latin letters or digits are
# where the ERP's full-width typing shows (北京360网络 vs 北京３６０网络).
CITY_SHORT = {"上海市": "上海", "浙江省杭州市": "杭州", "江苏省南京市": "南京", "江苏省苏州市": "苏州",
              "浙江省宁波市": "宁波", "安徽省合肥市": "合肥", "北京市": "北京", "天津市": "天津",
              "山东省济南市": "济南", "山东省青岛市": "青岛", "河北省石家庄市": "石家庄", "广东省广州市": "广州",
              "广东省深圳市": "深圳", "福建省厦门市": "厦门", "福建省福州市": "福州", "广东省东莞市": "东莞",
              "香港": "香港"}
CITY_PINYIN = {"上海": "Shanghai", "杭州": "Hangzhou", "南京": "Nanjing", "苏州": "Suzhou", "宁波": "Ningbo",
               "合肥": "Hefei", "北京": "Beijing", "天津": "Tianjin", "济南": "Jinan", "青岛": "Qingdao",
               "石家庄": "Shijiazhuang", "广州": "Guangzhou", "深圳": "Shenzhen", "厦门": "Xiamen",
               "福州": "Fuzhou", "东莞": "Dongguan", "香港": "Hong Kong"}
BRANDS = {"华信": "Huaxin", "中科": "Zhongke", "腾达": "Tengda", "金山": "Jinshan", "海纳": "Haina",
          "天润": "Tianrun", "鼎盛": "Dingsheng", "恒通": "Hengtong", "瑞丰": "Ruifeng", "汇通": "Huitong",
          "博远": "Boyuan", "新元": "Xinyuan", "宏图": "Hongtu", "众诚": "Zhongcheng", "安信": "Anxin",
          "九州": "Jiuzhou", "东方": "Dongfang", "长城": "Changcheng", "启明": "Qiming", "远景": "Yuanjing",
          "360": "360", "HX": "HX", "E家": "Ejia", "A8": "A8", "51": "51"}
TRADES = {"科技": "Technology", "软件": "Software", "信息技术": "Information Technology", "电子": "Electronics",
          "物流": "Logistics", "医药": "Pharmaceutical", "新能源": "New Energy", "机械": "Machinery",
          "贸易": "Trading", "食品": "Foods", "网络": "Network", "数据": "Data", "材料": "Materials",
          "智能制造": "Intelligent Manufacturing"}
# legal form, its weight, its English rendering
FORMS = (("有限公司", 0.50, "Co., Ltd."), ("股份有限公司", 0.20, "Co., Ltd."), ("有限责任公司", 0.12, "Co., Ltd."),
         ("(集团)有限公司", 0.10, "Group Co., Ltd."), ("集团有限公司", 0.08, "Group Co., Ltd."))
# the legal-form endings a bank's short payer name leaves out, longest first
SUFFIXES = ("(集团)有限公司", "集团有限公司", "股份有限公司", "有限责任公司", "有限公司")

NO_REFERENCE_TEXTS = (None, "货款", "付款", "转账")
LUMP_SUM_TEXTS = (None, "货款", "结算往来款", "多张发票合并付款")
REMITTANCE_FORMS = ("{n}", "发票号 {n}", "货款 发票号{n}", "{c} 付款 {n}", "支付发票{n}货款", "发票号：{n}")


def fullwidth(text: str) -> str:
    """ASCII as a Chinese input method in full-width mode types it (Ｈ, （, １２３; space → U+3000)."""
    return "".join(chr(0x3000) if ch == " " else chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch
                   for ch in text)


def user_email_local(name: str) -> str:
    return USER_PINYIN[name]


def person(company, region: str) -> dict[str, str]:
    """A lead: a Chinese contact (family name first, no space) at a Chinese company."""
    rng = company.rng
    countries = REGIONS[region][2]
    country, iso, _w, _vat, cities = countries[0] if len(countries) == 1 else rng.choice(countries)
    family, given = rng.choice(list(FAMILY)), rng.choice(list(GIVEN))
    city = rng.choice(cities)
    brand, trade = rng.choice(list(BRANDS)), rng.choice(list(TRADES))
    form = rng.choices([f[0] for f in FORMS], weights=[f[1] for f in FORMS], k=1)[0]
    short = CITY_SHORT[city]
    domain = f"{BRANDS[brand].lower()}{TRADES[trade].split()[0].lower()}.{'hk' if iso == 'HK' else 'com.cn'}"
    return {
        "FirstName": given, "LastName": family, "Name": f"{family}{given}",
        "Company": f"{short}{brand}{trade}{form}",
        "Email": company._unique_email(GIVEN[given], FAMILY[family], domain),
        "Country": country, "_iso": iso, "_city": city, "_region": region,
    }


def _parts(legal: str) -> tuple[str, str, str, str]:
    """(city, brand, trade, form) of a name `person` made."""
    city = next(c for c in sorted(CITY_PINYIN, key=len, reverse=True) if legal.startswith(c))
    rest = legal[len(city):]
    brand = next(b for b in sorted(BRANDS, key=len, reverse=True) if rest.startswith(b))
    rest = rest[len(brand):]
    trade = next(t for t in sorted(TRADES, key=len, reverse=True) if rest.startswith(t))
    return city, brand, trade, rest[len(trade):]


def english_name(legal: str) -> str:
    """The name the customer registered with its bank abroad: SHANGHAI HUAXIN TECHNOLOGY CO., LTD."""
    city, brand, trade, form = _parts(legal)
    english = next(f[2] for f in FORMS if f[0] == form)
    return f"{CITY_PINYIN[city]} {BRANDS[brand]} {TRADES[trade]} {english}".upper()


def short_name(legal: str) -> str:
    """The legal name without its legal form (上海华信科技), as bank fields and people shorten it."""
    return next((legal[: -len(s)] for s in SUFFIXES if legal.endswith(s)), legal)


def _erp_name(rng: random.Random, legal: str) -> str:
    """ERP master data: typed with a Chinese input method, often in full-width mode."""
    return fullwidth(legal) if rng.random() < 0.4 else legal


def _payer_name(rng: random.Random, legal: str) -> str:
    """The bank's payer field: the legal name, full-width, shortened, or the English name."""
    u = rng.random()
    if u < 0.35:
        return legal
    if u < 0.55:
        return fullwidth(legal) + ("\u3000" if rng.random() < 0.5 else "")
    if u < 0.80:
        return short_name(legal)
    return english_name(legal)


def _bank_account(rng: random.Random) -> str:
    """A Chinese corporate bank account number (no IBAN in China): 19 digits."""
    return "".join(str(rng.randrange(10)) for _ in range(19))


def _erp_account(rng: random.Random, account: str) -> str | None:
    """The account as the ERP holds it: missing for some customers, else grouped by four, or typed
    full-width, or as the bank sends it."""
    u = rng.random()
    if u < 0.2:
        return None
    if u < 0.5:
        return " ".join(account[i:i + 4] for i in range(0, len(account), 4))
    if u < 0.6:
        return fullwidth(account)
    return account


def spell_customer(rng: random.Random, customer: dict) -> None:
    """Give an ERP customer its Chinese spellings: the ERP's name, the bank's payer name, the bank
    account (sent by the bank as `bank_account`, held by the ERP as `iban`: its bank-account
    column), and a unified social credit code as the tax id."""
    legal = customer["name"]
    customer["name"] = _erp_name(rng, legal)
    customer["payer_name"] = _payer_name(rng, legal)
    account = _bank_account(rng)
    customer["bank_account"] = customer["acct_no"] = account
    customer["iban"] = _erp_account(rng, account)
    code = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(10))
    customer["tax_id"] = f"91{rng.randrange(110000, 660000)}{code}"


def remittance(rng: random.Random, number: str, customer: dict) -> str:
    """Chinese remittance text naming an invoice, the number as typed: as issued, full-width, with
    only its digits full-width, or with a leading zero dropped (INV-2025-00123)."""
    u = rng.random()
    if u < 0.2:
        number = fullwidth(number)
    elif u < 0.3:
        head, _, digits = number.partition("-")
        number = f"{head}-{fullwidth(digits)}"
    elif u < 0.4:
        number = number.replace("-0", "-", 1)
    form = rng.choice(REMITTANCE_FORMS)
    return form.format(n=number, c=short_name(customer["payer_name"])[:20])


# Our own bank accounts per currency: (IBAN country, BBAN, BIC, opening balance), generator.BANK_ACCOUNTS' shape.
BANK_ACCOUNTS = {
    "CNY": ("GB", "HBUK40127612345678", "HBUKGB4B", Decimal("1500000.00")),
    "USD": ("GB", "NWBK60161331926819", "NWBKGB2L", Decimal("250000.00")),
}
BANK_FEES = {"CNY": "300.00", "USD": "45.00"}
