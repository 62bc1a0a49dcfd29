"""Writes a small messy newspaper archive for the archive tests: every file made here, none shipped."""

from __future__ import annotations

import json
import os
from pathlib import Path

FONT_DIR = Path("/usr/share/fonts/opentype/noto")
NAV = '<div class="nav"><a href="/">首页</a> | <a href="/yw">要闻</a> | <a href="/sh">社会</a> | <a href="/tp">图片</a> | <a href="/dzb">数字报</a></div>'
FOOTER = ('<div class="footer"><p>版权所有 东城日报社 未经授权禁止转载</p><p>地址：东城区人民路1号 邮编：100000</p>'
          '<p>备案号：京ICP备12345678号 联系电话：010-12345678</p></div>')


def cjk_font_path() -> Path | None:
    for name in ("NotoSansCJK-Regular.ttc", "NotoSerifCJK-Regular.ttc"):
        if (FONT_DIR / name).is_file():
            return FONT_DIR / name
    return None


def two_column_pdf(path: Path, left: list[str], right: list[str], masthead: list[str], page2: list[str] | None = None) -> None:
    """A text-layer PDF page in two columns, written row by row (left line, right line, ...), as many layout programs do."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    c = canvas.Canvas(str(path), pagesize=(595, 842))
    y = 790
    for i, line in enumerate(masthead):
        c.setFont("STSong-Light", 22 if i == 0 else 11)
        c.drawString(60, y, line)
        y -= 26
    y -= 20
    for i in range(max(len(left), len(right))):
        for x, col in ((60, left), (320, right)):
            if i < len(col):
                c.setFont("STSong-Light", 14 if i == 0 else 11)
                c.drawString(x, y, col[i])
        y -= 18 if i else 24
    c.showPage()
    if page2:
        y = 790
        for i, line in enumerate(page2):
            c.setFont("STSong-Light", 14 if i == 0 else 11)
            c.drawString(60, y, line)
            y -= 20
        c.showPage()
    c.save()


def page_image(lines_left: list[str], lines_right: list[str], masthead: list[str]):
    """A scanned-looking page: two columns of black text on white, rendered with a Noto CJK font."""
    from PIL import Image, ImageDraw, ImageFont

    font_path = cjk_font_path()
    big = ImageFont.truetype(str(font_path), 44, index=2)  # index 2: the SC face of the collection
    body = ImageFont.truetype(str(font_path), 30, index=2)
    img = Image.new("RGB", (1240, 900), "white")
    d = ImageDraw.Draw(img)
    y = 40
    for i, line in enumerate(masthead):
        d.text((60, y), line, font=big if i == 0 else body, fill="black")
        y += 70 if i == 0 else 50
    y += 40
    for i in range(max(len(lines_left), len(lines_right))):
        for x, col in ((60, lines_left), (660, lines_right)):
            if i < len(col):
                d.text((x, y), col[i], font=body, fill="black")
        y += 52
    return img


def html_page(title: str, paras: list[str], date: str, author: str, edition: str, paper: str = "东城日报") -> str:
    body = "".join(f"<p>{p}</p>" for p in paras)
    related = "".join(f'<li><a href="/a{i}.html">相关新闻标题第{i}条</a></li>' for i in range(1, 6))
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}_{paper}</title>'
            f'<meta property="og:site_name" content="{paper}"><meta name="publishdate" content="{date}"></head>'
            f'<body>{NAV}<div class="banner">{paper}数字报 {date} {edition}：城区新闻</div>'
            f'<div class="article"><h1>{title}</h1><div class="info">作者：{author} 来源：{paper} {date}</div>{body}</div>'
            f'<div class="related"><h3>相关新闻</h3><ul>{related}</ul></div>{FOOTER}</body></html>')


def make_archive(root: Path) -> dict:
    """Write the archive and return what each file should yield: {source: (question, fact)} and the broken files."""
    root.mkdir(parents=True, exist_ok=True)
    d25, d26 = root / "2023-05-25", root / "2023-05-26"
    d25.mkdir(exist_ok=True)
    d26.mkdir(exist_ok=True)
    two_column_pdf(
        d25 / "01.pdf",
        left=["区图书馆新馆开放", "本报讯（记者 王芳）区图书馆新馆昨日", "正式对外开放，馆藏图书达到十二万册，", "每天开放十个小时。"],
        right=["社区食堂覆盖全区", "本报讯 今年全区新建社区食堂二十八家，", "覆盖全部街道，每餐价格不超过十五元。"],
        masthead=["东城日报", "2023年5月25日 星期四"],
        page2=["三条公交新线开通", "本报讯 区交通局昨日宣布，三条公交新线", "正式开通运营，首班车早上六点发车。"],
    )
    (d25 / "02.txt").write_bytes(
        "垃圾分类见成效\n\n本报讯 今年以来，全区建成再生资源回收站四十五个，\n日均回收可回收物一百二十吨。\n".encode("gb18030"))
    (d26 / "02.TXT").write_bytes(
        "東湖濕地公園開園\n\n本報訊 東湖濕地公園昨日開園迎客，濕地面積達到三百公頃，\n園內共有鳥類一百六十種。\n".encode("big5"))
    img = page_image(["老街改造工程完工", "本报讯 老街改造工程昨日完工，", "共修复传统民居三十六栋，", "新增停车位四百个。"],
                     ["春季运动会闭幕", "本报讯 区春季运动会昨天闭幕，", "共有两千名运动员参加比赛，", "打破三项区纪录。"],
                     ["东城日报", "2023年5月26日 星期五"])
    img.save(d26 / "01.pdf", "PDF", resolution=150)  # an image-only page: a scan
    scans = root / "scans"
    scans.mkdir(exist_ok=True)
    page_image(["夜市经济持续升温", "本报讯 东城夜市开业一个月，", "累计接待游客八十万人次，", "带动就业一千二百人。"], [],
               ["东城日报", "2023年5月27日 星期六"]).save(scans / "2023-05-27.PNG")
    web = root / "web"
    web.mkdir(exist_ok=True)
    (web / "river.html").write_text(html_page(
        "河道治理工程通过验收",
        ["本报讯 东河河道综合治理工程昨日通过竣工验收，整治河道长度达到十二点五公里。",
         "工程共投入资金三点二亿元，新建生态护岸八公里，沿河步道全线贯通，周边居民可以沿河散步。",
         "区水利局表示，下一步将建立河长巡查机制，确保河道长治久清。"],
        date="2023-06-02", author="李明", edition="第03版"), encoding="utf-8")
    plain = root / "plain"
    plain.mkdir(exist_ok=True)
    (plain / "report.txt").write_text(
        "关于全区经济运行情况的报告\n\n一、总体情况\n今年一季度，全区经济运行总体平稳，\n地区生产总值增长百分之六点五。\n\n"
        "二、主要措施\n一是扩大有效投资，新开工重点项目二十个。\n二是促进消费回升，发放消费券三千万元。\n", encoding="utf-8")
    (root / "events.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in [
        {"id": "ev-1", "title": "马拉松赛事举行", "text": "东城马拉松昨日鸣枪开跑，共有一万五千名跑者参赛。", "date": "2023/03/01"},
        {"id": "ev-2", "title": "花展开幕", "text": "第十届东城花展开幕，展出花卉品种六百个。", "date": "2023年3月5日"},
    ]) + "\n", encoding="utf-8")
    # broken files: a PDF cut short, random bytes named .pdf, an image that is not one
    good = (d25 / "01.pdf").read_bytes()
    (d26 / "03.pdf").write_bytes(good[: len(good) // 3])
    (root / "noise.pdf").write_bytes(os.urandom(2048))
    (scans / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + os.urandom(500))
    return {
        "questions": {
            "2023-05-25/01.pdf#p1": ("区图书馆新馆馆藏图书有多少册？", "十二万册"),
            "2023-05-25/01.pdf#p2": ("三条公交新线的首班车几点发车？", "六点"),
            "2023-05-25/02.txt": ("全区建成了多少个再生资源回收站？", "四十五个"),
            "2023-05-26/02.TXT": ("东湖湿地公园的湿地面积有多大？", "三百公"),
            "2023-05-26/01.pdf#p1": ("老街改造工程修复了多少栋传统民居？", "三十六栋"),
            "scans/2023-05-27.PNG": ("东城夜市开业一个月接待了多少游客？", "八十万人次"),
            "web/river.html": ("东河河道整治长度是多少公里？", "十二点五公里"),
            "plain/report.txt": ("一季度地区生产总值增长了多少？", "百分之六点五"),
            "events.jsonl": ("东城马拉松有多少名跑者参赛？", "一万五千名"),
        },
        "broken": ["2023-05-26/03.pdf", "noise.pdf", "scans/broken.jpg"],
    }
