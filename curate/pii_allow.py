"""The allow-list: terms PII scrubbing must keep, and the list shipped by default.

Name lists and spaCy both mistake technical and product vocabulary for people
and places: "Python" is a LOCATION to en_core_web_sm, "Java" and "C++" are
PERSONs, "Echo Dot" and "AirPods Max" are persons. For a code- or
product-support dataset that destroys the content being trained on, so the
scrubber ships a list of such terms (programming languages, frameworks and
tools, operating systems, common products and brands, virtual assistants) and
users add their own (`PiiConfig.allow_list`).

Matching is case-insensitive on word boundaries. One-word terms are a set
lookup per word; longer terms ("Echo Dot", "Visual Studio Code") and terms
with symbols ("C++", "Node.js") are tried only at words that start one, so a
list of hundreds of terms costs about as much as a few.
"""

from __future__ import annotations

import re

_LANGUAGES = """
Python; Java; JavaScript; TypeScript; C; C++; C#; F#; Objective-C; Go; Golang; Rust; Ruby; PHP;
Perl; Swift; Kotlin; Scala; Haskell; Erlang; Elixir; Clojure; Lisp; Scheme; Racket; OCaml;
Fortran; COBOL; Delphi; R; MATLAB; Octave; Lua; Dart; Groovy; Bash; Zsh;
PowerShell; SQL; PL/SQL; T-SQL; HTML; CSS; Sass; Less; Assembly; Verilog; VHDL; Prolog;
Smalltalk; Visual Basic; VB.NET; Solidity; Zig; Nim; Crystal; Elm; PureScript; CoffeeScript;
WebAssembly; Wasm; Apex; ABAP; Tcl; Awk; Sed; Jupyter; Markdown; YAML; JSON; XML; TOML; GraphQL
"""

_TOOLS = """
Django; Flask; FastAPI; Pyramid; Rails; Ruby on Rails; Laravel; Symfony; Spring; Spring Boot;
Hibernate; React; React Native; Angular; AngularJS; Vue; Vue.js; Svelte; Next.js; Nuxt; Node;
Node.js; Deno; Bun; Express; jQuery; Bootstrap; Tailwind; Redux; Webpack; Vite; Babel; ESLint;
Prettier; Apollo; npm; Yarn; pip; Conda; Anaconda; Poetry; Maven; Gradle; Cargo; NuGet; Homebrew;
Pandas; NumPy; SciPy; Matplotlib; Seaborn; Polars; PyTorch; TensorFlow; Keras; JAX; Hugging Face;
Transformers; spaCy; NLTK; scikit-learn; Sklearn; XGBoost; LightGBM; OpenCV; Spark; Hadoop;
Kafka; Airflow; Prefect; Dask; Celery; RabbitMQ; Redis; Memcached; PostgreSQL; Postgres;
MySQL; MariaDB; SQLite; MongoDB; Cassandra; DynamoDB; Elasticsearch; Kibana; Logstash; Grafana;
Prometheus; Datadog; Splunk; Sentry; Docker; Docker Compose; Kubernetes; Helm; Terraform;
Ansible; Puppet; Chef; Vagrant; Jenkins; Travis; CircleCI; GitHub Actions; GitLab; GitHub;
Bitbucket; Git; Subversion; Mercurial; Jira; Confluence; Trello; Asana; Notion; Slack; Zoom;
Microsoft Teams; Teams; Skype; Discord; Telegram; WhatsApp; Signal; Outlook; Gmail; Thunderbird;
Nginx; Apache; Tomcat; IIS; Gunicorn; Uvicorn; Vim; Neovim; Emacs; Nano; VS Code; Visual Studio;
Visual Studio Code; IntelliJ; IntelliJ IDEA; PyCharm; WebStorm; Eclipse; NetBeans; Xcode;
Android Studio; Sublime Text; Atom; Jupyter Notebook; JupyterLab; Colab; Postman; Insomnia;
Wireshark; Figma; Sketch; Photoshop; Illustrator; Lightroom; Premiere; After Effects; Blender;
Unity; Unreal; Unreal Engine; Godot; Excel; Word; PowerPoint; OneNote; OneDrive; SharePoint;
Access; Google Docs; Google Sheets; Google Drive; Google Meet; Dropbox; Box; iCloud; Salesforce;
HubSpot; Zendesk; Freshdesk; Intercom; Shopify; WordPress; Wix; Squarespace; Magento; Stripe;
PayPal; Venmo; Zelle; Square; Klarna; Twilio; SendGrid; Mailchimp; Okta; Auth0; LDAP; Active
Directory; OAuth; OpenID; SAML; Cloudflare; Akamai; Heroku; Netlify; Vercel; DigitalOcean;
Linode; AWS; Amazon Web Services; EC2; S3; Lambda; CloudFront; CloudWatch; Azure; GCP; Google
Cloud; BigQuery; Firebase; Supabase; Snowflake; Databricks; Tableau; Power BI; Looker; SAP;
Oracle; QuickBooks; Xero; ChatGPT; GPT; GPT-4; OpenAI; Claude; Gemini; Bard; Copilot; Llama;
Mistral; Ollama; LangChain; Cursor; Stack Overflow; StackOverflow; Reddit; Wikipedia; YouTube;
Twitter; Facebook; Instagram; LinkedIn; TikTok; Snapchat; Pinterest; Twitch; Netflix; Hulu;
Spotify; Pandora; Bitcoin; Ethereum; Dogecoin; Coinbase; Binance; Disney; Disney Plus; Prime Video; HBO; HBO Max; Roku; Chromecast; Plex; Steam;
Shinkansen; Epic Games; Fortnite; Minecraft; Mario Kart; Les Misérables; Les Miserables; Roblox; Xbox; PlayStation; PS5; Nintendo; Nintendo Switch;
Switch; Kindle; Audible; Uber; Lyft; Airbnb; DoorDash; Instacart; Grubhub; Etsy; eBay; Amazon
"""

_PLATFORMS = """
Windows; Windows 10; Windows 11; macOS; Mac; MacBook; MacBook Air; MacBook Pro; iMac; Mac Mini;
OS X; Linux; Ubuntu; Debian; Fedora; CentOS; Red Hat; RHEL; Arch; Arch Linux; Mint; Linux Mint;
Alpine; FreeBSD; Android; iOS; iPadOS; watchOS; ChromeOS; Chromebook; Chrome; Chromium; Firefox;
Safari; Edge; Opera; Brave; Internet Explorer; Tor; Apple; Microsoft; Google; Samsung; Galaxy;
Pixel; Nexus; OnePlus; Xiaomi; Huawei; Motorola; Nokia; Sony; LG; Dell; HP; Lenovo; ThinkPad;
Asus; Acer; MSI; Razer; Logitech; Intel; AMD; Ryzen; Nvidia; GeForce; Radeon; Qualcomm;
Snapdragon; ARM; Raspberry Pi; Arduino; iPhone; iPad; iPad Pro; iPod; Apple Watch; Apple TV;
AirPods; AirPods Pro; AirPods Max; AirTag; HomePod; Siri; Alexa; Echo; Echo Dot; Echo Show;
Fire TV; Fire Stick; Kindle Fire; Ring; Nest; Google Home; Google Assistant; Cortana; Bixby;
Fitbit; Garmin; Peloton; Tesla; Sonos; Bose; Beats; JBL; Canon; Nikon; GoPro; DJI; Philips Hue;
Netgear; Linksys; TP-Link; Eero; Fritz!Box; FRITZ!OS; Comcast; Xfinity; Verizon; AT&T; T-Mobile; Sprint; Vodafone;
Bluetooth; Wi-Fi; WiFi; USB; USB-C; Thunderbolt; HDMI; Ethernet; VPN; DNS; HTTP; HTTPS; SSH;
SSL; TLS; TCP; UDP; API; REST; SDK; CLI; GUI; IDE; CPU; GPU; RAM; SSD; BIOS; UEFI; Wi-Fi 6; 5G;
LTE; NFC; QR; PDF; CSV; JPEG; PNG; GIF; MP3; MP4; Unicode; UTF-8; ASCII; Regex; Lorem Ipsum;
Hello World; Foo; Bar; Baz; Boolean; Turing; Linux Kernel; Stack; Heap; Trie; Queue; Null; NaN;
True; False; None; Lorem
"""

# Airlines, parcel carriers, telecoms and retailers that support conversations
# name: organisations, kept by the policy; spaCy calls several of them persons.
_COMPANIES = """
Ryanair; easyJet; Lufthansa; Emirates; Qantas; Qatar Airways; British Airways; Air France; KLM;
Iberia; Vueling; Wizz Air; Southwest; JetBlue; Air Canada; IndiGo; ITA Airways; Aer Lingus;
Etihad; Turkish Airlines; Jet2; Norwegian; Aeromexico; LATAM; Avianca;
UPS; FedEx; DHL; USPS; Royal Mail; Evri; Hermes; DPD; GLS; Correos; La Poste; Colissimo;
Chronopost; PostNL; Deutsche Post; Canada Post; Australia Post; India Post; Poste Italiane;
SEUR; InPost; Purolator; Delhivery; Blue Dart;
Movistar; Telekom; Deutsche Telekom; O2; Telstra; Optus; Jio; Airtel; Vodacom; MTN; Telcel;
Bouygues; SFR; Free Mobile; Swisscom; KPN; Ziggo; Proximus; Telenor; Telia; BT; Virgin Media; Sky;
Walmart; Target; Costco; IKEA; Tesco; Sainsbury's; Asda; Aldi; Lidl; Carrefour; Zalando; Flipkart;
Mercado Libre; MercadoLibre; Rakuten; AliExpress; Temu; Shein; Best Buy; Home Depot; Argos
"""

# Public figures and fictional characters: names, but not of private persons
# (the policy redacts private persons). Full names, plus surnames that on
# their own hardly name anyone else.
_PUBLIC = """
Barack Obama; Donald Trump; Joe Biden; Abraham Lincoln; George Washington; Thomas Jefferson;
John F. Kennedy; Richard Nixon; Ronald Reagan; Bill Clinton; Hillary Clinton; George W. Bush;
Jimmy Carter; Andrew Johnson; Theodore Roosevelt; Franklin Roosevelt; Winston Churchill;
Queen Elizabeth; Elon Musk; Bill Gates; Steve Jobs; Mark Zuckerberg; Jeff Bezos; Tim Cook;
Satya Nadella; Sundar Pichai; Linus Torvalds; Guido van Rossum; Dennis Ritchie; Ken Thompson;
Bjarne Stroustrup; James Gosling; Alan Turing; Ada Lovelace; Charles Babbage; John von Neumann;
Grace Hopper; Tim Berners-Lee; Edsger Dijkstra; Donald Knuth; Isaac Newton; Albert Einstein;
Charles Darwin; Marie Curie; Nikola Tesla; Thomas Edison; Stephen Hawking; Carl Sagan;
Neil Armstrong; Buzz Aldrin; Galileo Galilei; Leonardo da Vinci; William Shakespeare;
Jane Austen; Charles Dickens; Mark Twain; Ernest Hemingway; George Orwell; J.K. Rowling;
J. K. Rowling; J.R.R. Tolkien; J. R. R. Tolkien; Stephen King; Agatha Christie; Leo Tolstoy;
Fyodor Dostoyevsky; Mary Shelley; Edgar Allan Poe; Thomas Pynchon; Isaac Asimov;
Arthur C. Clarke; Philip K. Dick; John Lennon; Paul McCartney; Jim Morrison; Elvis Presley;
Michael Jackson; Taylor Swift; Bob Dylan; Bob Marley; Freddie Mercury; David Bowie; Kanye West;
Lady Gaga; Matt Damon; Tom Hanks; Tom Cruise; Brad Pitt; Leonardo DiCaprio; Morgan Freeman;
Meryl Streep; Oprah Winfrey; Michael Jordan; LeBron James; Kobe Bryant; Babe Ruth;
Muhammad Ali; Serena Williams; Roger Federer; Lionel Messi; Cristiano Ronaldo; Diego Maradona;
Usain Bolt; Tiger Woods; Martin Luther King; Nelson Mandela; Mahatma Gandhi; Mother Teresa;
Pope Francis; Dalai Lama; Karl Marx; Sigmund Freud; Napoleon Bonaparte; Julius Caesar;
Vladimir Putin; Xi Jinping; Angela Merkel; Emmanuel Macron; Justin Trudeau; Narendra Modi;
Edwin Hubble; Harry Potter; Hermione Granger; Sherlock Holmes; Darth Vader; Luke Skywalker;
Bilbo Baggins; Frodo Baggins; Mickey Mouse; Santa Claus; Iron Man; Spider-Man; Wonder Woman;
Rick and Morty; Homer Simpson; Bart Simpson; Captain America; Jean-Luc Picard; James Bond;
Obama; Trump; Biden; Einstein; Shakespeare; Darwin; Dijkstra; Turing; Babbage; Lovelace;
Ludwig van Beethoven; Ziggy Stardust; Tolkien; Dostoyevsky; Tolstoy; Plato; Aristotle; Socrates; Confucius; Beethoven; Mozart;
Picasso; Gandhi; Mandela; Churchill; Hitler; Stalin; Putin; Zelensky; Musk; Zuckerberg; Bezos;
Wozniak; Hawking; Edison; Galileo; Copernicus; Freud; Nietzsche; Hemingway; Dickens; Orwell;
Beyoncé; Rihanna; Madonna; Elvis; Eminem; Oprah; Messi; Ronaldo; Maradona; Pelé; Federer;
Nadal; Djokovic; Tarantino; Spielberg; Hitchcock; Kubrick; Batman; Superman; Spiderman;
Pikachu; Yoda; Gandalf; Voldemort; Shrek
"""


def _terms(block: str) -> list[str]:
    return [t.strip() for t in block.replace("\n", " ").split(";") if t.strip()]


DEFAULT_ALLOW_TERMS: tuple[str, ...] = tuple(
    _terms(_LANGUAGES) + _terms(_TOOLS) + _terms(_PLATFORMS) + _terms(_COMPANIES)
    + _terms(_PUBLIC))

_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_FIRST = re.compile(r"[\w.#+/-]+")


class AllowList:
    """Case-insensitive term matching on word boundaries."""

    def __init__(self, terms):
        terms = [t.strip() for t in terms if t and t.strip()]
        self.exact = frozenset(t.casefold() for t in terms)
        # One-word terms never start a name. Words of longer terms do not count
        # on their own: "John" of "John Lennon" is still a name elsewhere, and
        # "Max" of "AirPods Max" too; the whole term is kept where it stands.
        self.single = frozenset(t.casefold() for t in terms if _WORD.fullmatch(t))
        self.words = self.single
        longer: dict[str, list[str]] = {}
        other: list[str] = []  # terms that do not start with a letter ("4539 1488 ...")
        for t in terms:
            if _WORD.fullmatch(t):
                continue
            m = _WORD.match(t) or (_WORD.search(t) if not t[:1].isalnum() else None)
            if m is None:
                other.append(t)
                continue
            longer.setdefault(m.group().casefold(), []).append(t.casefold())
        self.other = (re.compile(r"(?<!\w)(?:" + "|".join(
            re.escape(t) for t in sorted(other, key=len, reverse=True)) + r")(?!\w)", re.I)
            if other else None)
        self.longer = {k: sorted(set(v), key=len, reverse=True) for k, v in longer.items()}

    def __bool__(self) -> bool:
        return bool(self.exact)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """[start, end) of every allowed term in `text`, longest match at each word."""
        out: list[tuple[int, int]] = []
        low = None
        last_end = -1
        for m in _WORD.finditer(text):
            s = m.start()
            if s < last_end:
                continue
            w = m.group().casefold()
            best = None
            cands = self.longer.get(w)
            if cands:
                if low is None:
                    low = text.casefold()
                for t in cands:
                    if low.startswith(t, s) and _boundary(text, s, s + len(t)):
                        best = (s, s + len(t))
                        break
            if best is None:
                core = w[:-2] if w.endswith(("'s", "’s")) else w
                if core in self.single:
                    best = (s, s + len(core))
            if best is not None:
                out.append(best)
                last_end = best[1]
        if self.other is not None:
            out += [(m.start(), m.end()) for m in self.other.finditer(text)]
            out.sort()
        return out


def _boundary(text: str, s: int, e: int) -> bool:
    before = text[s - 1] if s > 0 else " "
    after = text[e] if e < len(text) else " "
    return not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_")
