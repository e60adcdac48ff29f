"""Chinese given names in pinyin: two syllables of Hanyu Pinyin written as one word (``xiaoming``,
``meilin``, ``yuxuan``), as most mainland given names are. No list of given names holds more than
a few of them (Faker's ``zh_CN`` romanised list has 23), so the syllable inventory, a closed class
of about 400 spellings, stands in for the list."""

from __future__ import annotations

from overheard.protect._lexicon import words

SYLLABLES = words(
    """
    ba bai ban bang bao bei ben beng bi bian biao bie bin bing bo bu
    ca cai can cang cao ce cen ceng cha chai chan chang chao che chen cheng chi chong chou chu
    chua chuai chuan chuang chui chun chuo ci cong cou cu cuan cui cun cuo
    da dai dan dang dao de dei den deng di dia dian diao die ding diu dong dou du duan dui dun duo
    fa fan fang fei fen feng fo fou fu
    ga gai gan gang gao ge gei gen geng gong gou gu gua guai guan guang gui gun guo
    ha hai han hang hao he hei hen heng hong hou hu hua huai huan huang hui hun huo
    ji jia jian jiang jiao jie jin jing jiong jiu ju juan jue jun
    ka kai kan kang kao ke kei ken keng kong kou ku kua kuai kuan kuang kui kun kuo
    la lai lan lang lao le lei leng li lia lian liang liao lie lin ling liu long lou lu luan lun
    luo lv lve
    ma mai man mang mao me mei men meng mi mian miao mie min ming miu mo mou mu
    na nai nan nang nao ne nei nen neng ni nian niang niao nie nin ning niu nong nou nu nuan nuo
    nv nve
    pa pai pan pang pao pei pen peng pi pian piao pie pin ping po pou pu
    qi qia qian qiang qiao qie qin qing qiong qiu qu quan que qun
    ran rang rao re ren reng ri rong rou ru rua ruan rui run ruo
    sa sai san sang sao se sen seng sha shai shan shang shao she shei shen sheng shi shou shu shua
    shuai shuan shuang shui shun shuo si song sou su suan sui sun suo
    ta tai tan tang tao te teng ti tian tiao tie ting tong tou tu tuan tui tun tuo
    wa wai wan wang wei wen weng wo wu
    xi xia xian xiang xiao xie xin xing xiong xiu xu xuan xue xun
    ya yan yang yao ye yi yin ying yo yong you yu yuan yue yun
    za zai zan zang zao ze zei zen zeng zha zhai zhan zhang zhao zhe zhei zhen zheng zhi zhong
    zhou zhu zhua zhuai zhuan zhuang zhui zhun zhuo zi zong zou zu zuan zui zun zuo
    """
)
"""The Hanyu Pinyin syllables that begin with a consonant (``y`` and ``w`` count), tones left out;
the few vowel-initial ones (``an``, ``ou``, ``er``) are left out, since a name joining them is
written with an apostrophe (``xi'an``) and they make English fragments ambiguous."""
MIN_CHARS = 5
MAX_CHARS = 12


def pinyin_given_name(word: str) -> bool:
    """True if the word is two pinyin syllables joined (``xiaoming``, ``jiayi``), five to twelve
    letters long. Whether it is also an English word is for the caller to check."""
    if not MIN_CHARS <= len(word) <= MAX_CHARS or not word.isascii() or not word.isalpha():
        return False
    return any(word[:k] in SYLLABLES and word[k:] in SYLLABLES for k in range(2, len(word) - 1))
