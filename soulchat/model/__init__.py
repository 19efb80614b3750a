"""soulchat.model"""
