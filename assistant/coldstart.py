"""The built-in replies, for someone whose own history has nothing close yet.

Common intents of a direct chat (greetings, thanks, apologies, time and place,
yes/no invitations, ...), each with example messages that trigger it and a few
short replies per language. The triggers are embedded once per process, on
first use, under a lock (about 200 texts: ~1.5 s on our box); the model is
multilingual, so English and Chinese triggers also catch the same intent in
other languages, and a few triggers per other language sharpen it.

Everything here is written by us: no user's data is in it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from assistant import embedding

LANGUAGES = ("en", "zh", "es", "fr", "de", "pt", "ru", "ja")


@dataclass(frozen=True)
class Intent:
    name: str
    triggers: tuple[str, ...]
    replies: dict[str, tuple[str, ...]]  # language -> replies, best first


def _intent(name: str, triggers: str, **replies: str) -> Intent:
    # One trigger per line; replies separated by " | ".
    return Intent(
        name=name,
        triggers=tuple(t.strip() for t in triggers.strip().splitlines() if t.strip()),
        replies={language: tuple(r.strip() for r in text.split(" | ")) for language, text in replies.items()},
    )


INTENTS: tuple[Intent, ...] = (
    _intent(
        "greeting",
        """
        hi
        hello there
        hey!
        good morning
        good evening
        你好
        嗨
        在吗？
        早上好
        哈喽
        hola
        bonjour
        hallo
        oi, tudo bem
        привет
        こんにちは
        """,
        en="Hi! | Hey, what's up? | Hello 👋",
        zh="你好！ | 在的，怎么了？ | 嗨～",
        es="¡Hola! | ¡Hola! ¿Qué tal? | Hola 👋",
        fr="Salut ! | Bonjour ! | Coucou, ça va ?",
        de="Hallo! | Hi, was gibt's? | Hey 👋",
        pt="Olá! | Oi, tudo bem? | Oi 👋",
        ru="Привет! | Привет, как дела? | Здравствуй!",
        ja="こんにちは！ | どうしたの？ | やあ 👋",
    ),
    _intent(
        "how_are_you",
        """
        how are you?
        how's it going?
        how have you been?
        你好吗
        最近怎么样
        最近还好吗？
        ¿cómo estás?
        ça va ?
        wie geht's dir?
        como você está?
        как дела?
        元気？
        """,
        en="I'm good, thanks! You? | All good here 😊 | Not bad, and you?",
        zh="挺好的，你呢？ | 还不错！ | 一切都好，谢谢",
        es="Bien, ¿y tú? | Todo bien, gracias 😊 | No me quejo, ¿y tú?",
        fr="Ça va bien, et toi ? | Très bien, merci 😊 | Pas mal, et toi ?",
        de="Gut, danke! Und dir? | Alles gut 😊 | Ganz gut, und dir?",
        pt="Tudo bem, e você? | Tudo ótimo, obrigado 😊 | Bem, e você?",
        ru="Хорошо, а у тебя? | Всё отлично 😊 | Нормально, а ты как?",
        ja="元気だよ、そっちは？ | おかげさまで元気 😊 | まあまあかな、そっちは？",
    ),
    _intent(
        "thanks",
        """
        thank you!
        thanks a lot
        thx
        thanks for your help
        谢谢
        太感谢了
        谢谢你的帮助
        muchas gracias
        merci beaucoup
        vielen Dank
        obrigado!
        спасибо
        ありがとう
        """,
        en="You're welcome! | No problem! | Anytime 😊",
        zh="不客气！ | 没事儿～ | 应该的 😊",
        es="¡De nada! | No hay de qué | Cuando quieras 😊",
        fr="De rien ! | Avec plaisir 😊 | Pas de quoi !",
        de="Gern geschehen! | Kein Problem! | Immer gerne 😊",
        pt="De nada! | Imagina 😊 | Disponha!",
        ru="Пожалуйста! | Не за что! | Обращайся 😊",
        ja="どういたしまして！ | いえいえ 😊 | 役に立ててよかった！",
    ),
    _intent(
        "apology",
        """
        sorry!
        I'm so sorry
        my bad, apologies
        对不起
        不好意思
        抱歉，是我的错
        lo siento
        désolé
        tut mir leid
        desculpa
        извини
        ごめんね
        """,
        en="No worries! | It's okay. | Don't worry about it 😊",
        zh="没关系！ | 没事的 | 别在意～",
        es="¡No pasa nada! | Tranquilo, está bien | No te preocupes 😊",
        fr="Pas de souci ! | Ce n'est pas grave. | T'inquiète pas 😊",
        de="Kein Problem! | Schon gut. | Mach dir keine Sorgen 😊",
        pt="Sem problemas! | Tudo bem. | Não se preocupe 😊",
        ru="Ничего страшного! | Всё нормально. | Не переживай 😊",
        ja="大丈夫だよ！ | 気にしないで 😊 | 全然いいよ",
    ),
    _intent(
        "running_late",
        """
        I'm running late
        I'll be 10 minutes late
        sorry, I'm late
        我要迟到了
        我晚点到
        不好意思，我会晚到一会儿
        llego tarde
        je suis en retard
        ich komme später
        vou me atrasar
        я опаздываю
        遅れます
        """,
        en="No problem, take your time. | OK, see you soon! | No rush!",
        zh="没事，慢慢来 | 好的，一会儿见！ | 不着急",
        es="Tranquilo, sin prisa. | Vale, ¡nos vemos ahora! | No pasa nada",
        fr="Pas de souci, prends ton temps. | OK, à tout de suite ! | Pas de stress",
        de="Kein Stress, lass dir Zeit. | Okay, bis gleich! | Kein Problem",
        pt="Sem pressa! | Ok, até já! | Tranquilo, sem problemas",
        ru="Ничего, не торопись. | Хорошо, до встречи! | Без проблем",
        ja="大丈夫、ゆっくりでいいよ | 了解、また後で！ | 気をつけてね",
    ),
    _intent(
        "where_are_you",
        """
        where are you?
        where are you now?
        are you here yet?
        你在哪
        你到哪了？
        你现在在哪儿呢
        ¿dónde estás?
        t'es où ?
        wo bist du?
        cadê você?
        ты где?
        今どこ？
        """,
        en="On my way! | Almost there. | I'm already here.",
        zh="在路上了！ | 快到了 | 我已经到了",
        es="¡Voy en camino! | Ya casi llego | Ya estoy aquí",
        fr="J'arrive ! | Presque arrivé. | Je suis déjà là",
        de="Bin unterwegs! | Fast da. | Bin schon da",
        pt="Tô a caminho! | Quase chegando | Já cheguei",
        ru="Уже еду! | Почти на месте. | Я уже тут",
        ja="向かってるよ！ | もうすぐ着く | もう着いたよ",
    ),
    _intent(
        "when",
        """
        what time is the meeting?
        when do we meet?
        what time works for you?
        几点开会？
        我们几点见？
        什么时候见面
        ¿a qué hora nos vemos?
        à quelle heure on se voit ?
        um wie viel Uhr treffen wir uns?
        que horas a gente se encontra?
        во сколько встречаемся?
        何時に会う？
        """,
        en="Let me check and get back to you. | What time works for you? | I'll let you know soon.",
        zh="我看一下再告诉你 | 你几点方便？ | 我确认一下",
        es="Déjame ver y te digo. | ¿A qué hora te viene bien? | Te aviso pronto",
        fr="Je regarde et je te dis. | Quelle heure t'arrange ? | Je te redis vite",
        de="Ich schau nach und melde mich. | Wann passt es dir? | Ich sag dir gleich Bescheid",
        pt="Vou ver e te aviso. | Que horas fica bom pra você? | Já te falo",
        ru="Сейчас уточню и скажу. | Во сколько тебе удобно? | Скоро напишу",
        ja="確認して連絡するね | 何時がいい？ | また連絡する",
    ),
    _intent(
        "invitation",
        """
        are you free tonight?
        want to grab dinner together?
        let's have lunch tomorrow
        are you coming to the party?
        今晚有空吗？
        周末一起吃饭吗？
        要不要一起去看电影
        ¿quedamos esta noche?
        tu es libre ce soir ?
        hast du heute Abend Zeit?
        vamos sair hoje?
        ты свободен вечером?
        今夜空いてる？
        """,
        en="Sure, sounds good! | Sorry, I can't today. | Let me check and tell you.",
        zh="好啊！ | 抱歉，今天不行 | 我看看时间再告诉你",
        es="¡Claro, me apunto! | Lo siento, hoy no puedo. | Déjame ver y te digo",
        fr="Oui, avec plaisir ! | Désolé, je ne peux pas aujourd'hui. | Je regarde et je te dis",
        de="Klar, gerne! | Sorry, heute kann ich nicht. | Ich schau mal und sag Bescheid",
        pt="Claro, bora! | Desculpa, hoje não dá. | Vou ver e te falo",
        ru="Да, давай! | Извини, сегодня не могу. | Посмотрю и напишу",
        ja="いいね、行こう！ | ごめん、今日は無理 | 確認して連絡するね",
    ),
    _intent(
        "favour",
        """
        can you help me?
        could you do me a favor?
        can you send me the file?
        能帮我个忙吗？
        可以帮我一下吗
        把文件发给我好吗
        ¿me puedes ayudar?
        tu peux m'aider ?
        kannst du mir helfen?
        pode me ajudar?
        можешь помочь?
        手伝ってくれる？
        """,
        en="Sure, what do you need? | Of course! | Give me a minute.",
        zh="可以啊，什么事？ | 没问题！ | 稍等一下",
        es="Claro, ¿qué necesitas? | ¡Por supuesto! | Dame un minuto",
        fr="Bien sûr, de quoi as-tu besoin ? | Pas de problème ! | Donne-moi une minute",
        de="Klar, was brauchst du? | Na klar! | Gib mir eine Minute",
        pt="Claro, do que você precisa? | Com certeza! | Me dá um minuto",
        ru="Конечно, что нужно? | Без проблем! | Дай мне минутку",
        ja="いいよ、何？ | もちろん！ | ちょっと待ってね",
    ),
    _intent(
        "call_me",
        """
        can you call me?
        call me when you can
        can we talk on the phone?
        给我打个电话
        方便打电话吗？
        有空回个电话
        ¿me llamas?
        tu peux m'appeler ?
        kannst du mich anrufen?
        me liga?
        позвони мне
        電話できる？
        """,
        en="Sure, calling you now. | Give me 5 minutes. | Can't talk now, text me?",
        zh="好的，马上打给你 | 等我五分钟 | 现在不方便，发消息吧",
        es="Claro, te llamo ahora. | Dame 5 minutos. | Ahora no puedo, ¿me escribes?",
        fr="OK, je t'appelle. | Donne-moi 5 minutes. | Je ne peux pas parler, écris-moi ?",
        de="Klar, ich ruf dich an. | Gib mir 5 Minuten. | Kann gerade nicht, schreib mir?",
        pt="Claro, já te ligo. | Me dá 5 minutos. | Agora não posso, me manda mensagem?",
        ru="Конечно, сейчас позвоню. | Дай мне 5 минут. | Не могу говорить, напиши?",
        ja="今かけるね | 5分待って | 今話せない、メッセージでいい？",
    ),
    _intent(
        "did_you_get_it",
        """
        did you get my message?
        did you see my email?
        have you received the file?
        收到了吗？
        看到我的消息了吗
        邮件收到了没有
        ¿recibiste mi mensaje?
        tu as reçu mon message ?
        hast du meine Nachricht bekommen?
        recebeu minha mensagem?
        ты получил моё сообщение?
        メッセージ見た？
        """,
        en="Yes, got it! | Got it, thanks! | Not yet, can you resend?",
        zh="收到了！ | 收到，谢谢！ | 还没有，能再发一次吗？",
        es="¡Sí, lo recibí! | Recibido, ¡gracias! | Todavía no, ¿me lo reenvías?",
        fr="Oui, bien reçu ! | Reçu, merci ! | Pas encore, tu peux le renvoyer ?",
        de="Ja, hab's bekommen! | Angekommen, danke! | Noch nicht, schickst du es nochmal?",
        pt="Sim, recebi! | Recebido, obrigado! | Ainda não, pode reenviar?",
        ru="Да, получил! | Получил, спасибо! | Ещё нет, можешь переслать?",
        ja="うん、届いたよ！ | 受け取った、ありがとう！ | まだ。もう一回送ってくれる？",
    ),
    _intent(
        "proposal",
        """
        let's meet at 7, ok?
        does that work for you?
        shall we go tomorrow?
        我们七点见，好吗？
        这样可以吗？
        明天去行不行
        ¿te parece bien?
        ça te va ?
        passt dir das?
        pode ser?
        договорились?
        それでいい？
        """,
        en="OK! | Sounds good 👍 | Perfect.",
        zh="好的！ | 可以 👍 | 没问题",
        es="¡Vale! | Me parece bien 👍 | Perfecto",
        fr="D'accord ! | Ça marche 👍 | Parfait",
        de="Okay! | Passt 👍 | Perfekt",
        pt="Beleza! | Combinado 👍 | Perfeito",
        ru="Хорошо! | Договорились 👍 | Отлично",
        ja="OK！ | いいね 👍 | 了解！",
    ),
    _intent(
        "good_news",
        """
        I got the job!
        I passed the exam!
        we won the game!
        我通过考试了！
        我找到工作了
        我们赢了！
        ¡aprobé el examen!
        j'ai eu le poste !
        ich habe die Prüfung bestanden!
        passei na prova!
        я сдал экзамен!
        合格した！
        """,
        en="Congratulations! 🎉 | That's great news! | Well done!",
        zh="恭喜恭喜！🎉 | 太棒了！ | 真为你高兴！",
        es="¡Felicidades! 🎉 | ¡Qué buena noticia! | ¡Bien hecho!",
        fr="Félicitations ! 🎉 | Super nouvelle ! | Bravo !",
        de="Glückwunsch! 🎉 | Super Neuigkeiten! | Gut gemacht!",
        pt="Parabéns! 🎉 | Que notícia boa! | Mandou bem!",
        ru="Поздравляю! 🎉 | Отличная новость! | Молодец!",
        ja="おめでとう！🎉 | すごいね！ | よかったね！",
    ),
    _intent(
        "wishes",
        """
        happy birthday!
        happy new year!
        merry christmas!
        生日快乐！
        新年快乐
        节日快乐！
        ¡feliz cumpleaños!
        joyeux anniversaire !
        alles Gute zum Geburtstag!
        feliz aniversário!
        с днём рождения!
        誕生日おめでとう！
        """,
        en="Thank you so much! 😊 | Aw, thanks! | Thanks for remembering!",
        zh="谢谢！😊 | 太谢谢你了！ | 谢谢你还记得～",
        es="¡Muchas gracias! 😊 | ¡Gracias! | ¡Gracias por acordarte!",
        fr="Merci beaucoup ! 😊 | Merci ! | Merci d'y avoir pensé !",
        de="Vielen Dank! 😊 | Danke! | Danke, dass du dran gedacht hast!",
        pt="Muito obrigado! 😊 | Obrigado! | Obrigado por lembrar!",
        ru="Большое спасибо! 😊 | Спасибо! | Спасибо, что помнишь!",
        ja="ありがとう！😊 | 本当にありがとう！ | 覚えててくれてありがとう！",
    ),
    _intent(
        "goodbye",
        """
        bye!
        see you later
        talk to you tomorrow
        再见
        拜拜
        回头见
        ¡hasta luego!
        à plus tard
        tschüss, bis später
        tchau, até logo
        пока!
        またね
        """,
        en="Bye! | See you! | Talk soon 👋",
        zh="拜拜！ | 回头见！ | 再见 👋",
        es="¡Adiós! | ¡Hasta luego! | ¡Nos vemos! 👋",
        fr="Salut ! | À plus ! | À bientôt 👋",
        de="Tschüss! | Bis später! | Bis bald 👋",
        pt="Tchau! | Até logo! | Até mais 👋",
        ru="Пока! | До встречи! | До связи 👋",
        ja="またね！ | じゃあね！ | バイバイ 👋",
    ),
    _intent(
        "good_night",
        """
        good night!
        going to bed now
        sleep well
        晚安
        我去睡了
        早点睡吧
        buenas noches
        bonne nuit
        gute Nacht
        boa noite
        спокойной ночи
        おやすみ
        """,
        en="Good night! | Sleep well 😴 | Sweet dreams!",
        zh="晚安！ | 好梦 😴 | 早点休息",
        es="¡Buenas noches! | Que descanses 😴 | ¡Dulces sueños!",
        fr="Bonne nuit ! | Dors bien 😴 | Fais de beaux rêves !",
        de="Gute Nacht! | Schlaf gut 😴 | Träum was Schönes!",
        pt="Boa noite! | Durma bem 😴 | Bons sonhos!",
        ru="Спокойной ночи! | Сладких снов 😴 | Отдыхай!",
        ja="おやすみ！ | ゆっくり休んでね 😴 | いい夢を！",
    ),
    _intent(
        "have_you_eaten",
        """
        have you eaten yet?
        did you have lunch?
        你吃饭了吗
        吃了吗？
        吃过晚饭没有
        ¿ya comiste?
        tu as mangé ?
        hast du schon gegessen?
        já comeu?
        ты поел?
        ご飯食べた？
        """,
        en="Yes, have you? | Not yet. | About to eat.",
        zh="吃了，你呢？ | 还没呢 | 正准备去吃",
        es="Sí, ¿y tú? | Todavía no. | Estoy por comer",
        fr="Oui, et toi ? | Pas encore. | Je vais manger",
        de="Ja, und du? | Noch nicht. | Gleich",
        pt="Já, e você? | Ainda não. | Vou comer agora",
        ru="Да, а ты? | Ещё нет. | Как раз собираюсь",
        ja="食べたよ、そっちは？ | まだ | これから食べる",
    ),
    _intent(
        "laughter",
        """
        haha
        lol that's so funny
        😂😂😂
        哈哈哈
        笑死我了
        太搞笑了
        jajaja
        mdr
        kkkkk
        ахаха
        ｗｗｗ
        """,
        en="Haha 😂 | 😂😂 | So funny!",
        zh="哈哈哈 | 😂😂 | 笑死",
        es="Jajaja 😂 | 😂😂 | ¡Qué risa!",
        fr="Mdr 😂 | 😂😂 | Trop drôle !",
        de="Haha 😂 | 😂😂 | Zu gut!",
        pt="Kkkk 😂 | 😂😂 | Muito bom!",
        ru="Ахаха 😂 | 😂😂 | Очень смешно!",
        ja="笑 😂 | 😂😂 | ウケる！",
    ),
)


# Messages that call for no canned reply: acknowledgements and plain
# statements. E5's cosines sit high and closer together in some languages
# (Chinese above all) than in others, so one absolute threshold cannot tell
# "close to an intent" from "close to anything"; an intent must also beat this
# class by a margin.
NO_REPLY = _intent(
    "no_reply",
    """
    ok
    yes
    sure
    I see
    👍
    👌
    the file is in the shared folder
    I'm watching a movie
    it's raining outside
    the meeting was moved to room 3
    I'll check the code later
    the bus was crowded this morning
    my phone battery is low
    we need more milk
    好的
    嗯嗯
    知道了
    今天好热
    我在看电视
    他们下周搬家
    这个价格有点贵
    文件在共享文件夹里
    老板今天不在
    我在写代码
    vale
    hace mucho calor hoy
    d'accord
    il pleut encore
    das Wetter ist schön
    tá bom
    ладно
    сегодня жарко
    うん
    今日は暑い
    """,
)


@dataclass(frozen=True)
class IntentMatch:
    intent: Intent
    score: float  # cosine to the intent's closest trigger


_lock = threading.Lock()
_index: tuple[np.ndarray, np.ndarray] | None = None  # trigger vectors, the intent number of each

_CLASSES = (*INTENTS, NO_REPLY)  # NO_REPLY is the last class


def _load_index() -> tuple[np.ndarray, np.ndarray]:
    global _index
    if _index is None:
        with _lock:
            if _index is None:
                texts = [t for intent in _CLASSES for t in intent.triggers]
                owners = np.array([i for i, intent in enumerate(_CLASSES) for _ in intent.triggers])
                _index = (embedding.embed(texts), owners)
    return _index


def prepare() -> None:
    """Embed the triggers now (a worker's warm-up) rather than on the first
    message that needs them. Raises EmbeddingUnavailable where the model cannot run."""
    _load_index()


def match_intents(vector: np.ndarray, *, threshold: float, margin: float) -> list[IntentMatch]:
    """The intents `vector` is close to, best first.

    An intent matches when its closest trigger has a cosine of at least
    `threshold` and beats the closest "no reply" example by at least `margin`.
    Embeds the triggers on the first call (raises EmbeddingUnavailable where
    the model cannot run).
    """
    triggers, owners = _load_index()
    scores = triggers @ np.asarray(vector, dtype=np.float32)
    best = np.full(len(_CLASSES), -1.0, dtype=np.float32)
    np.maximum.at(best, owners, scores)
    floor = max(threshold, float(best[-1]) + margin)
    order = np.argsort(-best[:-1], kind="stable")
    return [IntentMatch(intent=INTENTS[i], score=float(best[i])) for i in order if best[i] >= floor]
